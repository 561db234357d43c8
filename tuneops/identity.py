"""What a trial id hashes besides the experiment's fields: flags as the engine reads them,
the measurement procedure's version, and the code or image that produces the numbers.

A trial id must name one measurement (tuneops/plan.py). Three things used to escape it:

- *Spelling.* `tp: 1` and `tensor-parallel-size: 1` give the engine the same command line,
  and `context-length: 8k` the same number as `8000`, yet hashed apart, so respelling a flag
  measured everything again. `canonical_args` hashes each flag under its canonical name
  (the catalog maps every spelling, inverse ones included) with its value as the engine's
  parser reads it (sizes, `auto`, floats, case-folded choices, JSON words).
- *How tuneops measures.* `MEASUREMENT_PROCEDURE` is bumped whenever the way tuneops turns
  a running engine into numbers changes (load generator or its invocation, warm-up,
  what a repeat is, how metrics are read or aggregated). Every id changes with it, so
  numbers measured the old way are never reused as if measured the new way.
- *What runs.* An image pinned by digest (`repo:tag@sha256:...`) is that digest, whatever
  the tag says; tuneops' own engines (`python3 -m tuneops.engines.<name>`: the simulator,
  the llama.cpp launcher) are the hash of their code (`engine_code_digest`).

Pure: reads only the catalogs and tuneops' own package files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from tuneops import registry
from tuneops.registry import Catalog, Flag

# Bump when how tuneops measures changes (docs/architecture.md, "Trial identity"): the
# load generator (including the genai-bench version pinned in pyproject.toml) or how it is
# invoked, warm-up, what a repeat is, how metrics are read or aggregated. A test changes
# it and checks that every trial id changes (tests/tuneops/test_trial_identity.py).
# 1: genai-bench text-to-text runs per scenario x concurrency, warm-up requests first,
#    repeats as separate runs (fresh engine when asked), means over repeats, percentiles
#    over the pooled requests of every repeat.
MEASUREMENT_PROCEDURE = 1

_SIZE = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z]+)")
CODE_SUFFIXES = (".py", ".json", ".yaml")
# OCI image-spec descriptor digest grammar: algorithm ":" encoded
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_OWN_ENGINE = re.compile(r"tuneops\.engines\.([a-z_][a-z0-9_]*)")


def _size(flag: Flag, word: str) -> int | None:
    """`word` as the engine's size parser reads it (`8k` -> 8000 with vLLM's decimal k,
    `8Ki` -> 8192), from the suffixes the catalog recorded off the real parser
    (scripts/catalogs/fromparser.py `_sizes`); a decimal number is multiplied then
    truncated, as vLLM's `human_readable_int` does (vllm/engine/arg_utils.py)."""
    match = _SIZE.fullmatch(word)
    if not match:
        return None
    number, suffix = match.groups()
    mult = dict(flag.sizes).get(suffix)
    if mult is None or ("." in number and suffix not in flag.size_decimals):
        return None
    return int(float(number) * mult)


def _scalar(flag: Flag, value: Any) -> Any:
    """One value of `flag` as the engine's parser reads it; unchanged when unsure."""
    kind = flag.type
    if isinstance(value, bool):
        return value
    if kind == "bool" and value in ("true", "false"):
        return value == "true"
    if kind == "float" and isinstance(value, int):
        return float(value)  # argparse's float("1") is 1.0
    if kind == "json" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, str):
        word = value.strip()
        folded = word.lower() if flag.folds_case else word  # `AUTO`; sizes keep their case
        if kind.startswith("int-or-"):
            if word.lstrip("-").isdigit():
                return int(word)
            if "auto" in kind and folded == "auto":
                return flag.auto_value if isinstance(flag.auto_value, int) else "auto"
            if "size" in kind:
                parsed = _size(flag, word)
                return value if parsed is None else parsed
        return folded if flag.folds_case and flag.choices else value
    return value


def _value(flag: Flag, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        if flag.type in ("json", "json-or-str"):
            return list(value)
        if flag.type == "comma-list":  # one `a,b` word on the command line
            return ",".join(str(v) for v in value)
        return [_scalar(flag, v) for v in value]
    return _scalar(flag, value)


def canonical_args(cat: Catalog | None, args: dict[str, Any]) -> dict[str, Any]:
    """Canonical flag name -> value as the engine parses it, sorted by name.

    Without a catalog (not generated yet) or for a flag it does not know, the name loses
    its dashes and the value stays as written. A bare flag set false where leaving it out
    already means false is dropped: the command line is the same either way
    (renderers/command.py `flag_words`)."""
    out: dict[str, Any] = {}
    for name, value in args.items():
        canonical, value = cat.normalize(name, value) if cat is not None else (name, value)
        canonical = canonical.lstrip("-")
        flag = cat.flags.get(canonical) if cat is not None else None
        if flag is not None:
            value = _value(flag, value)
            if flag.boolean and value is False and flag.off_spelling is None:
                continue
        out[canonical] = value
    return {k: out[k] for k in sorted(out)}


def image_identity(image: str | None) -> str | None:
    """An image as what it runs: `repo@sha256:...` when pinned by digest (a tag beside the
    digest is ignored by the container runtime), else the reference as written."""
    if not image or "@" not in image:
        return image
    name, digest = image.rsplit("@", 1)
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # repo:tag@digest -> repo@digest
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return f"{name}@{digest}"


def image_digest(image: str | None) -> str | None:
    """The digest (`sha256:...`) an image is pinned to, or None."""
    if not image or "@" not in image:
        return None
    digest = image.rsplit("@", 1)[1]
    return digest if _DIGEST.fullmatch(digest) else None


def own_engine_package(engine: registry.Engine) -> str | None:
    """The tuneops.engines package an engine runs (`python3 -m tuneops.engines.sim`), or
    None for an engine that is not tuneops' own code."""
    for words in (engine.local_command, engine.command):
        for word in words:
            match = _OWN_ENGINE.fullmatch(word)
            if match:
                return match.group(1)
    return None


def folder_digest(root: Path) -> str:
    """sha256 over the code and data files under `root` (relative path and bytes,
    sorted): what the wheel ships of it (pyproject.toml package-data), so a bytecode cache
    or an editor's file left beside them changes nothing."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file()
                   and not any(part.startswith((".", "__pycache__")) for part in
                               p.relative_to(root).parts))
    for path in files:
        rel = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big") + data)
    return "sha256:" + h.hexdigest()


@cache
def package_digest(package: str) -> str:
    """The folder digest of the tuneops.engines.<package> sources."""
    spec = importlib.util.find_spec("tuneops.engines")  # its folder; runs none of it
    return folder_digest(Path(next(iter(spec.submodule_search_locations))) / package)


def engine_code_digest(engine_name: str) -> str | None:
    """The digest of tuneops' own engine code (simulator, llama.cpp launcher) an engine
    runs, or None for an engine tuneops does not ship."""
    package = own_engine_package(registry.engines()[engine_name])
    return package_digest(package) if package else None
