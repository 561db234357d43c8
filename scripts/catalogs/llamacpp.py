"""The llama.cpp flag catalog: llama-server flags the xllamacpp launcher accepts.

``build()`` is called by ``scripts/make_catalogs.py``; run this file on its own to write
``schemas/catalogs/llamacpp.json``. The flags come from ``tuneops.engines.llamacpp.flags`` (the
launcher's own table, so the catalog cannot list a flag the launcher would reject), the
version from the installed xllamacpp wheel.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "schemas" / "catalogs" / "llamacpp.json"


def build() -> dict:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tuneops.engines.llamacpp.flags import FLAGS

    flags = {
        f.name: {
            "type": f.type,
            "boolean": f.boolean,
            "choices": f.choices,
            "default": f.default,
            "aliases": sorted(a.lstrip("-") for a in f.aliases),
            "nargs": None,
            "help": f"{f.help} (CommonParams.{f.field})",
        }
        for f in FLAGS
    }
    return {
        "engine": "llamacpp",
        "source": {"package": "xllamacpp", "version": version("xllamacpp"),
                   "file": "engines/llamacpp/flags.py",
                   "generated_by": "scripts/catalogs/llamacpp.py"},
        "flags": dict(sorted(flags.items())),
    }


def write(path: Path = OUT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")
