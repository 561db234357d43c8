"""Generate schemas/catalogs/<engine>.json: each engine's real flags at a pinned version.

    python scripts/make_catalogs.py [--engine sglang|vllm|llamacpp|all] [--check]

SGLang and vLLM are read from their real argument parsers (`ServerArgs.add_cli_args`, the
`vllm serve` parser), built in cached venvs with stand-ins for torch and the GPU packages
(scripts/catalogs/venvs.py, `make parser-venvs`; built on first use, a few minutes).
llama.cpp's catalog comes from scripts/catalogs/llamacpp.py. --check regenerates in memory
and exits 1 when a committed file differs from what the real parser says.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from catalogs import fromparser, venvs  # noqa: E402

VERSIONS = venvs.VERSIONS
OUT_DIR = ROOT / "schemas" / "catalogs"
ENGINES = ("sglang", "vllm", "llamacpp")
PARSER_FILES = {"sglang": "sglang/srt/server_args.py (ServerArgs.add_cli_args)",
                "vllm": "vllm/entrypoints/cli/serve.py (vllm serve)"}


def dumps(doc: dict) -> str:
    """Byte-for-byte stable serialization."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_from_parser(engine: str, build: bool = True) -> dict:
    """The catalog from the real parser; `build` makes its venv first when it is missing
    (else a missing venv is an error: --check must not spend minutes installing)."""
    if build:
        venvs.ensure(engine)
    elif not venvs.ready(engine):
        raise fromparser.ParserMissing(venvs.missing_message(engine))
    return {
        "engine": engine,
        "source": {"package": engine, "version": VERSIONS[engine],
                   "file": PARSER_FILES[engine],
                   "generated_by": "scripts/make_catalogs.py (the real parser)"},
        "flags": fromparser.entries(fromparser.describe(engine)),
    }


def build_llamacpp() -> dict:
    try:
        module = importlib.import_module("catalogs.llamacpp")
    except ModuleNotFoundError as exc:
        if exc.name != "catalogs.llamacpp":
            raise
        raise SystemExit("scripts/catalogs/llamacpp.py is not there yet; "
                         "its build() makes the llama.cpp catalog") from None
    return module.build()


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


BUILDERS = {"sglang": lambda build: build_from_parser("sglang", build),
            "vllm": lambda build: build_from_parser("vllm", build),
            "llamacpp": lambda build: build_llamacpp()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=(*ENGINES, "all"), default="all")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a committed catalog differs from a fresh build")
    args = parser.parse_args(argv)
    engines = ENGINES if args.engine == "all" else (args.engine,)
    stale = []
    for engine in engines:
        start = time.perf_counter()
        try:
            doc = BUILDERS[engine](not args.check)
        except fromparser.ParserMissing as exc:
            print(f"{engine}: {exc}", file=sys.stderr)
            return 2
        text = dumps(doc)
        took = time.perf_counter() - start
        path = OUT_DIR / f"{engine}.json"
        count = len(doc["flags"])
        if args.check:
            same = path.exists() and path.read_text(encoding="utf-8") == text
            print(f"{engine}: {count} flags, {'up to date' if same else 'STALE'} ({took:.1f}s)")
            if not same:
                stale.append(_show(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"{engine}: {count} flags -> {_show(path)} ({took:.1f}s)")
    if stale:
        print("regenerate with `make catalogs`: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
