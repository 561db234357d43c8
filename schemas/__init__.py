"""Schemas, engine catalogs and the engine table, shipped as package data.

Code elsewhere asks this module for paths so the data travels with `pip install`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CATALOG_DIR = ROOT / "catalogs"


@cache
def load_json(name: str) -> dict:
    return json.loads((ROOT / name).read_text())
