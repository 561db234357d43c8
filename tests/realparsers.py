"""Rendered engine commands, read back out of every file that carries one, and checked
against what the engine's real argument parser makes of them.

`commands(exp)` renders an experiment in memory and returns each engine argv the way the
engine would receive it: docker.json's `command`, docker-run.sh after POSIX shell word
splitting, the local command.json argv (its `{port}` filled in as the local backend does),
and the OME runtime and InferenceService commands after Kubernetes' `$(VAR)` expansion.
`problems(...)` compares the parsed namespace with what each fixed and tuned flag should
have delivered. The parsers run in their venvs (scripts/catalogs/venvs.py).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from tuneops.renderers.render import render_tree

from tuneops import registry, spec, yamlio
from tuneops.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from catalogs import fromparser, venvs  # noqa: E402

# What OME sets in the container: $(MODEL_PATH) and friends.
OME_ENV = {"MODEL_PATH": "/mnt/models/model", "SERVED_MODEL_NAME": "model",
           "PARALLELISM_SIZE": "1"}
LOCAL_PORT = "30123"  # stands for the port the local backend reserves


@dataclass(frozen=True)
class Rendered:
    where: str  # experiment/trial/file
    words: tuple[str, ...]  # the argv after the engine's entry point
    flags: tuple[tuple[str, Any], ...]  # every flag the command must deliver (name, value)


def k8s_expand(word: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of a container command word: $(VAR) -> its value (left as is
    when unset), $$ -> $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), word)


def load(path: Path) -> spec.Experiment:
    return spec.from_document(yamlio.to_plain(yamlio.load(path)))


def _after(prefix: tuple[str, ...], argv: list[str], where: str) -> list[str]:
    assert tuple(argv[: len(prefix)]) == prefix, f"{where}: {argv[:4]} does not start {prefix}"
    return argv[len(prefix):]


def _docker_run_words(exp: spec.Experiment, script: str) -> list[str]:
    line = next(ln for ln in script.splitlines() if ln.startswith("docker run "))
    words = shlex.split(line)  # the POSIX shell's word splitting and quote removal
    return words[words.index(exp.engine.image) + 1:]


def commands(exp: spec.Experiment) -> list[Rendered]:
    """Every engine argv the rendered files of `exp` carry."""
    files = render_tree(exp)[0]
    yaml = YAML(typ="safe")
    trials = {t.id: t for t in make_plan(exp).trials}
    out = []
    for rel, text in sorted(files.items()):
        folder, _, name = rel.rpartition("/")
        trial = trials.get(folder)
        flags = tuple({**exp.engine.args, **(trial.params if trial else {})}.items())
        where = f"{exp.name}/{rel}"
        if name == "docker.json":
            argv = json.loads(text)["command"]
        elif name == "docker-run.sh":
            argv = _docker_run_words(exp, text)
        elif name == "command.json":
            argv = [w.replace("{port}", LOCAL_PORT) for w in json.loads(text)["argv"]]
        elif name in ("inferenceservice.yaml", "clusterservingruntime.yaml"):
            doc = yaml.load(text)
            runner = (doc["spec"]["engine"]["runner"] if name == "inferenceservice.yaml"
                      else doc["spec"]["engineConfig"]["runner"])
            argv = [k8s_expand(w, OME_ENV) for w in [*runner.get("command", []),
                                                      *runner.get("args", [])]]
            if name == "clusterservingruntime.yaml":
                flags = tuple(exp.engine.args.items())
        else:
            continue
        engine = registry.engines()[exp.engine.name]
        prefix = {"docker.json": engine.image_command, "docker-run.sh": engine.image_command,
                  "command.json": engine.local_command}.get(name, engine.command)
        out.append(Rendered(where, tuple(_after(prefix, argv, where)), flags))
    return out


def parse(engine: str, words: list[tuple[str, ...]]) -> list[dict]:
    """The engine's real parser on each argv; fails loudly when its venv is not built."""
    if not venvs.ready(engine):
        raise fromparser.ParserMissing(venvs.missing_message(engine))
    return fromparser.parse(engine, [list(w) for w in words])


# --------------------------------------------------------------------------- expected values


def _size(flag: registry.Flag, text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text.strip())
    if match:
        return int(float(match[1]) * dict(flag.sizes)[match[2]])
    return int(text)


def _scalar(flag: registry.Flag, value: Any) -> Any:
    kind = flag.type
    if kind == "int" or (kind.startswith("int-or-") and isinstance(value, int)):
        return int(value)
    if kind.startswith("int-or-"):
        if value == "auto":
            return flag.auto_value
        return _size(flag, str(value))
    if kind == "float":
        return float(value)
    if kind in ("json", "json-or-str") and isinstance(value, str) and kind == "json":
        return json.loads(value)
    if kind == "comma-list":
        return [str(v) for v in (value if isinstance(value, list) else str(value).split(","))]
    if isinstance(value, (dict, list)):
        return value
    return value if kind == "bool" else str(value)


def intended(cat: registry.Catalog, name: str, value: Any) -> tuple[str, Any]:
    """(the parser's attribute, the value it should hold) for flag `name` set to `value`."""
    canonical, value = cat.normalize(name, value)
    flag = cat.flags[canonical]
    dest = flag.dest or canonical.replace("-", "_")
    if flag.boolean:
        return dest, (not value) if flag.action == "store_false" else value
    if isinstance(value, list) and flag.type not in ("json", "json-or-str", "comma-list"):
        return dest, [_scalar(flag, v) for v in value]
    return dest, _scalar(flag, value)


def _matches(got: Any, want: Any) -> bool:
    """Equal, where a mapping may hold more keys than asked for (vLLM fills a config
    dataclass's defaults in) and a comma-list compares as words."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _matches(got[k], v)
                                             for k, v in want.items())
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(_matches(g, w) or str(g) == str(w)
                                             for g, w in zip(got, want, strict=True))
    if isinstance(want, float) and isinstance(got, (int, float)):
        return abs(got - want) < 1e-12
    return got == want and type(got) is type(want) if isinstance(want, bool) else got == want


def problems(exp: spec.Experiment, rendered: Rendered, result: dict) -> list[str]:
    """What the parser refused or got wrong in one rendered command ([] when all is well)."""
    if "error" in result:
        return [f"{rendered.where}: the parser refused it: {result['error']}"]
    cat = registry.catalog(exp.engine.name)
    ns = result["args"]
    out = []
    for name, value in rendered.flags:
        dest, want = intended(cat, name, value)
        if dest not in ns:
            out.append(f"{rendered.where}: {name}={value!r}: no attribute {dest}")
        elif not _matches(ns[dest], want):
            out.append(f"{rendered.where}: {name}={value!r}: parsed {ns[dest]!r}, "
                       f"intended {want!r}")
    return out
