"""Generate schemas/catalogs/<engine>.json: each engine's real flags at a pinned version.

    python scripts/make_catalogs.py [--engine sglang|vllm|llamacpp|all] [--wheel-dir DIR] [--check]

SGLang and vLLM are read statically from their wheels (importing them needs torch): the
wheel is downloaded once with `pip download --no-deps` into --wheel-dir (default
.cache/wheels, git-ignored) and reruns work offline. llama.cpp's catalog comes from
scripts/catalogs/llamacpp.py. --check regenerates in memory and exits 1 when a committed
file differs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from catalogs import common  # noqa: E402

# The one place engine versions are pinned.
VERSIONS = {"sglang": "0.5.23", "vllm": "0.33.0"}
OUT_DIR = ROOT / "schemas" / "catalogs"
DEFAULT_WHEEL_DIR = ROOT / ".cache" / "wheels"
ENGINES = ("sglang", "vllm", "llamacpp")


def build_sglang(wheel_dir: Path) -> dict:
    from catalogs import sglang

    version = VERSIONS["sglang"]
    wheel = common.ensure_wheel("sglang", version, wheel_dir)
    source = common.Source.from_wheel(wheel, ("sglang/srt/",))
    return common.catalog("sglang", "sglang", version, sglang.SERVER_ARGS_FILE,
                          sglang.flags(source))


def build_vllm(wheel_dir: Path) -> dict:
    from catalogs import vllm

    version = VERSIONS["vllm"]
    wheel = common.ensure_wheel("vllm", version, wheel_dir)
    source = common.Source.from_wheel(wheel, ("vllm/",))
    specs, file = vllm.flags(source)
    return common.catalog("vllm", "vllm", version, file, specs)


def build_llamacpp(wheel_dir: Path) -> dict:
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


BUILDERS = {"sglang": build_sglang, "vllm": build_vllm, "llamacpp": build_llamacpp}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=(*ENGINES, "all"), default="all")
    parser.add_argument("--wheel-dir", type=Path, default=DEFAULT_WHEEL_DIR)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a committed catalog differs from a fresh build")
    args = parser.parse_args(argv)
    engines = ENGINES if args.engine == "all" else (args.engine,)
    stale = []
    for engine in engines:
        start = time.perf_counter()
        doc = BUILDERS[engine](args.wheel_dir)
        text = common.dumps(doc)
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
