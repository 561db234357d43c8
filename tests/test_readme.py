"""The README's engine table quotes each catalog's size and source version: keep them true."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_flag_counts_and_versions_match_the_catalogs():
    readme = (ROOT / "README.md").read_text()
    quoted = re.findall(r"`schemas/catalogs/(\w+)\.json` \((\d+) flags, (\S+) ([^)]+)\)", readme)
    assert {name for name, *_ in quoted} == {"sglang", "vllm", "llamacpp"}
    for name, count, package, version in quoted:
        catalog = json.loads((ROOT / "schemas" / "catalogs" / f"{name}.json").read_text())
        assert int(count) == len(catalog["flags"]), name
        assert (package, version) == (catalog["source"]["package"],
                                      str(catalog["source"]["version"])), name
