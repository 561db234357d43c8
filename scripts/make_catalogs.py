"""Generate schemas/catalogs/<file>.json: each engine's real flags at a pinned version.

    python scripts/make_catalogs.py [--engine <name>|all] [--check]

How an engine's catalog is made is its `catalog_from` in schemas/engines.yaml, one of:
`real_parser` (SGLang, vLLM: the engine's real argument parser, built in a cached venv with
stand-ins for torch and the GPU packages, scripts/catalogs/venvs.py, `make parser-venvs`;
built on first use, a few minutes), `builder` (llama.cpp: a function under scripts/ that
returns the catalog) or `copy_of` (another engine's catalog under this engine's name, for an
engine that parses the same flags, such as one more simulator). Entries without
`catalog_from` share a file another entry makes. --check regenerates in memory and exits 1
when a committed file differs.
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

OUT_DIR = ROOT / "schemas" / "catalogs"
TABLE = venvs.TABLE  # this checkout's schemas/engines.yaml


def table() -> dict:
    return venvs.table()


def makers() -> dict:
    """Engine name -> its catalog_from, for the entries that make a catalog."""
    return {name: e.catalog_from for name, e in table().items() if e.catalog_from}


def versions() -> dict[str, str]:
    """Pinned engine versions, for the engines read from their real parser."""
    return {name: source["real_parser"]["version"]
            for name, source in makers().items() if "real_parser" in source}


def dumps(doc: dict) -> str:
    """Byte-for-byte stable serialization."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_from_parser(engine: str, build: bool = True) -> dict:
    """The catalog from the real parser; `build` makes its venv first when it is missing
    (else a missing venv is an error: --check must not spend minutes installing)."""
    source = table()[engine].catalog_from["real_parser"]
    if build:
        venvs.ensure(engine)
    elif not venvs.ready(engine):
        raise fromparser.ParserMissing(venvs.missing_message(engine))
    return {
        "engine": engine,
        "source": {"package": table()[engine].package or engine,
                   "version": source["version"], "file": source["file"],
                   "generated_by": "scripts/make_catalogs.py (the real parser)"},
        "flags": fromparser.entries(fromparser.describe(engine)),
    }


def build_with(engine: str, target: str) -> dict:
    """The catalog from a `module:function` under scripts/ (catalog_from.builder)."""
    module_name, _, function = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise SystemExit(f"{engine}: catalog_from.builder names {module_name}, which is not "
                         f"under scripts/") from None
    return getattr(module, function)()


def copy_of(engine: str, base: str) -> dict:
    """`base`'s committed catalog under `engine`'s name (--check of `base` keeps that file
    true to its parser; --check of `engine` then keeps the copy equal to it)."""
    doc = json.loads((OUT_DIR / table()[base].catalog_file).read_text(encoding="utf-8"))
    source = {**doc["source"], "generated_by": f"scripts/make_catalogs.py (copy of {base}'s)"}
    return {**doc, "engine": engine, "source": source}


def build_doc(engine: str, build: bool) -> dict:
    source = table()[engine].catalog_from
    if "real_parser" in source:
        return build_from_parser(engine, build)
    if "builder" in source:
        return build_with(engine, source["builder"])
    return copy_of(engine, source["copy_of"])


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    engines = sorted(makers())
    parser.add_argument("--engine", choices=(*engines, "all"), default="all")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a committed catalog differs from a fresh build")
    args = parser.parse_args(argv)
    engines = engines if args.engine == "all" else [args.engine]
    stale = []
    for engine in engines:
        start = time.perf_counter()
        try:
            doc = build_doc(engine, not args.check)
        except fromparser.ParserMissing as exc:
            print(f"{engine}: {exc}", file=sys.stderr)
            return 2
        text = dumps(doc)
        took = time.perf_counter() - start
        path = OUT_DIR / table()[engine].catalog_file
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
