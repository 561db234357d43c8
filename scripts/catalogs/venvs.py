"""Cached virtual environments holding each engine's real argument parser.

SGLang's and vLLM's parsers are plain argparse, but importing the modules that build them
pulls in torch and GPU packages. Each venv gets the engine wheel without its dependencies,
only the packages its parser modules import at load time (at the versions the engine wheel
pins, as pip constraints), and stand-ins for torch and the GPU packages
(scripts/catalogs/standins.py, installed ahead of every real package by realparser.py).
No GPU and no torch are needed: SGLang's venv is about 450 MB, vLLM's 1.3 GB (its wheel
carries compiled kernels); building both takes a few minutes.

A venv lives in ~/.cache/tuneops/parsers/<engine>-<version> ($TUNEOPS_PARSER_VENVS, else
$XDG_CACHE_HOME/tuneops/parsers), outside the checkout so every clone on a machine (CI's
fresh one included) shares it, and is rebuilt only when its package list changes
(its stamp file holds a hash of it).

    python scripts/catalogs/venvs.py [sglang] [vllm]     # what `make parser-venvs` runs

Which engines get a venv, and what goes in it (version, packages, environment), is each
engine's `catalog_from.real_parser` in schemas/engines.yaml.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import venv
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(
    os.environ.get("TUNEOPS_PARSER_VENVS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tuneops" / "parsers"
)

TABLE = ROOT / "schemas" / "engines.yaml"  # this checkout's engine table


@cache
def table() -> dict:
    """The engine table of this checkout (validated; tuneops.registry reads it)."""
    from tuneops.registry import load_engines

    return load_engines(TABLE)


def _source(engine: str) -> dict:
    """The engine's catalog_from.real_parser block: version, deps, no_deps, env. The engine
    table is the one place engine versions and parser packages are pinned."""
    entry = table().get(engine)
    source = (entry.catalog_from or {}).get("real_parser") if entry else None
    if not source:
        readers = ", ".join(name for name, e in table().items()
                            if "real_parser" in (e.catalog_from or {}))
        raise SystemExit(f"{engine!r} is not read from a real parser in {TABLE} "
                         f"(those are: {readers})")
    return source


def version(engine: str) -> str:
    return _source(engine)["version"]


def package(engine: str) -> str:
    """The engine's wheel (its `package` in the table)."""
    return table()[engine].package or engine


def parser(engine: str) -> str:
    """Which parser realparser.py reads (`module:function`, see realparser.parsers)."""
    return _source(engine)["parser"]


def deps(engine: str) -> list[str]:
    """What the parser modules import at load time, installed with their own dependencies."""
    return list(_source(engine)["deps"])


def no_deps(engine: str) -> list[str]:
    """Installed without dependencies: they would pull the real torch and CUDA (~5 GB)."""
    return list(_source(engine).get("no_deps") or [])


def env(engine: str) -> dict[str, str]:
    return dict(_source(engine).get("env") or {})


def path(engine: str) -> Path:
    return CACHE / f"{engine}-{version(engine)}"


def python(engine: str) -> Path:
    return path(engine) / "bin" / "python"


def _spec(engine: str) -> str:
    doc = {"engine": engine, "version": version(engine), "deps": deps(engine),
           "no_deps": no_deps(engine), "constrained": True,
           "python": list(sys.version_info[:2])}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _stamp(engine: str) -> Path:
    return path(engine) / ".tuneops-stamp"


def ready(engine: str) -> bool:
    stamp = _stamp(engine)
    return stamp.exists() and stamp.read_text().strip() == _spec(engine)


def missing_message(engine: str) -> str:
    return (f"the real {engine} {version(engine)} argument parser is not built "
            f"({path(engine)}); build it with `make parser-venvs` "
            f"(a few minutes, cached afterwards)")


def requirements(target: Path, engine: str) -> list[str]:
    """The engine wheel's own pins (Requires-Dist), as pip constraints: what the stand-in
    venv does install gets the versions the engine was released with."""
    meta = next(target.glob(f"lib/python*/site-packages/{package(engine)}-*.dist-info/METADATA"))
    out = []
    for line in meta.read_text(encoding="utf-8").splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = line.partition(":")[2].strip()
        if "extra ==" in req:
            continue
        out.append(re.sub(r"^([A-Za-z0-9._-]+)\[[^]]*\]", r"\1", req))
    return out


def ensure(engine: str, *, quiet: bool = False) -> Path:
    """The venv's python, building the venv first when it is missing or out of date."""
    if ready(engine):
        return python(engine)
    target = path(engine)
    start = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    environ = {**os.environ, **env(engine)}
    pip = [str(python(engine)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    wheel = f"{package(engine)}=={version(engine)}"
    subprocess.run([*pip, "--no-deps", wheel], check=True, env=environ)
    constraints = target / "constraints.txt"
    constraints.write_text("\n".join(requirements(target, engine)) + "\n")
    if no_deps(engine):
        subprocess.run([*pip, "--no-deps", "-c", str(constraints), *no_deps(engine)],
                       check=True, env=environ)
    subprocess.run([*pip, "-c", str(constraints), *deps(engine)], check=True, env=environ)
    _stamp(engine).write_text(_spec(engine) + "\n")
    if not quiet:
        print(f"{engine}: parser venv built in {time.perf_counter() - start:.0f}s "
              f"-> {target}")
    return python(engine)


def main(argv: list[str] | None = None) -> int:
    readers = [n for n, e in table().items() if "real_parser" in (e.catalog_from or {})]
    engines = argv or readers
    for engine in engines:
        if engine not in readers:
            print(f"unknown engine {engine!r}; one of {', '.join(readers)}", file=sys.stderr)
            return 2
        if ready(engine):
            print(f"{engine}: parser venv up to date ({path(engine)})")
        else:
            ensure(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
