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
fresh one included) shares it, and is rebuilt only when the package list below changes
(its stamp file holds a hash of it).

    python scripts/catalogs/venvs.py [sglang] [vllm]     # what `make parser-venvs` runs
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(
    os.environ.get("TUNEOPS_PARSER_VENVS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tuneops" / "parsers"
)

# The one place engine versions are pinned (the catalogs and the parser venvs use them).
VERSIONS = {"sglang": "0.5.23", "vllm": "0.33.0"}

# What the parser modules import at load time, installed with their own dependencies.
DEPS = {
    "sglang": ["numpy", "psutil", "requests", "packaging", "pydantic", "msgspec", "orjson",
               "pybase64", "pyzmq", "setproctitle", "pillow", "starlette", "tqdm", "IPython",
               "aiohttp"],
    "vllm": ["packaging", "pydantic", "regex", "numpy", "psutil", "cbor2", "pyzmq", "urllib3",
             "transformers", "aiohttp", "requests", "openai_harmony", "openai", "msgspec",
             "cloudpickle", "pillow", "pybase64", "cachetools", "uvloop", "py-cpuinfo",
             "fastapi", "prometheus_client", "partial_json_parser", "llguidance", "uvicorn",
             "watchfiles", "orjson"],
}
# Installed without dependencies: they would pull the real torch and CUDA (~5 GB).
NO_DEPS = {"sglang": [], "vllm": ["xgrammar", "apache-tvm-ffi"]}
ENV = {"vllm": {"VLLM_TARGET_DEVICE": "cpu"}}


def path(engine: str) -> Path:
    return CACHE / f"{engine}-{VERSIONS[engine]}"


def python(engine: str) -> Path:
    return path(engine) / "bin" / "python"


def _spec(engine: str) -> str:
    doc = {"engine": engine, "version": VERSIONS[engine], "deps": DEPS[engine],
           "no_deps": NO_DEPS[engine], "constrained": True, "python": list(sys.version_info[:2])}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _stamp(engine: str) -> Path:
    return path(engine) / ".tuneops-stamp"


def ready(engine: str) -> bool:
    stamp = _stamp(engine)
    return stamp.exists() and stamp.read_text().strip() == _spec(engine)


def missing_message(engine: str) -> str:
    return (f"the real {engine} {VERSIONS[engine]} argument parser is not built "
            f"({path(engine)}); build it with `make parser-venvs` "
            f"(a few minutes, cached afterwards)")


def requirements(target: Path, engine: str) -> list[str]:
    """The engine wheel's own pins (Requires-Dist), as pip constraints: what the stand-in
    venv does install gets the versions the engine was released with."""
    meta = next(target.glob(f"lib/python*/site-packages/{engine}-*.dist-info/METADATA"))
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
    env = {**os.environ, **ENV.get(engine, {})}
    pip = [str(python(engine)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", f"{engine}=={VERSIONS[engine]}"], check=True, env=env)
    constraints = target / "constraints.txt"
    constraints.write_text("\n".join(requirements(target, engine)) + "\n")
    if NO_DEPS[engine]:
        subprocess.run([*pip, "--no-deps", "-c", str(constraints), *NO_DEPS[engine]],
                       check=True, env=env)
    subprocess.run([*pip, "-c", str(constraints), *DEPS[engine]], check=True, env=env)
    _stamp(engine).write_text(_spec(engine) + "\n")
    if not quiet:
        print(f"{engine}: parser venv built in {time.perf_counter() - start:.0f}s "
              f"-> {target}")
    return python(engine)


def main(argv: list[str] | None = None) -> int:
    engines = argv or list(VERSIONS)
    for engine in engines:
        if engine not in VERSIONS:
            print(f"unknown engine {engine!r}; one of {', '.join(VERSIONS)}", file=sys.stderr)
            return 2
        if ready(engine):
            print(f"{engine}: parser venv up to date ({path(engine)})")
        else:
            ensure(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
