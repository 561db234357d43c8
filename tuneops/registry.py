"""Engines and their flag catalogs, read once from schemas/ (the single source of truth).

The experiment schema's engine enum and every launcher are checked against ENGINES in
tests, so adding an engine means adding one entry to schemas/engines.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from ruamel.yaml import YAML

from tuneops import schemas

DEPLOYMENT_MODES = ("docker", "local", "ome")
SEARCH_METHODS = ("grid", "random", "bayesian")


@dataclass(frozen=True)
class Engine:
    name: str
    command: tuple[str, ...]
    local_command: tuple[str, ...]
    image_command: tuple[str, ...]  # argv prefix inside the image ([] when ENTRYPOINT serves)
    model_flag: str | None
    served_name_flag: str
    host_flag: str
    port_flag: str
    default_port: int
    health_path: str
    catalog_file: str
    api_backend: str
    server_engine: str
    simulated: bool
    extra_flags: tuple = ()  # ((name, {type, boolean, choices}), ...)
    thread_flags: tuple[str, ...] = ()  # flags that set compute threads (CPU engines)


@cache
def engines() -> dict[str, Engine]:
    raw = YAML(typ="safe").load((schemas.ROOT / "engines.yaml").read_text())
    out = {}
    for name, e in raw.items():
        out[name] = Engine(
            name=name,
            command=tuple(e["command"]),
            local_command=tuple(e.get("local_command") or e["command"]),
            image_command=tuple(e.get("image_command", e["command"])),
            model_flag=e["model_flag"],
            served_name_flag=e["served_name_flag"],
            host_flag=e["host_flag"],
            port_flag=e["port_flag"],
            default_port=int(e["default_port"]),
            health_path=e["health_path"],
            catalog_file=e["catalog"],
            api_backend=e["genai_bench"]["api_backend"],
            server_engine=e["genai_bench"]["server_engine"],
            simulated=bool(e["simulated"]),
            extra_flags=tuple((e.get("extra_flags") or {}).items()),
            thread_flags=tuple(e.get("thread_flags") or ()),
        )
    return out


ENGINE_NAMES = tuple(sorted(engines()))


@dataclass(frozen=True)
class Flag:
    name: str
    type: str  # int | float | str | bool | json
    boolean: bool
    choices: tuple | None
    default: object
    aliases: tuple[str, ...]
    nargs: str | None = None


@dataclass(frozen=True)
class Catalog:
    engine: str
    package: str
    version: str
    flags: dict[str, Flag]
    by_alias: dict[str, str]  # every spelling -> canonical name

    def lookup(self, name: str) -> Flag | None:
        canonical = self.by_alias.get(name.lstrip("-"))
        return self.flags.get(canonical) if canonical else None


@cache
def catalog(engine_name: str) -> Catalog | None:
    """The flag catalog of an engine, or None when it has not been generated yet."""
    engine = engines()[engine_name]
    path = schemas.CATALOG_DIR / engine.catalog_file
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    raw["flags"] = {**raw["flags"], **dict(engine.extra_flags)}
    flags: dict[str, Flag] = {}
    by_alias: dict[str, str] = {}
    for name, f in raw["flags"].items():
        flags[name] = Flag(
            name=name,
            type=f.get("type", "str"),
            boolean=bool(f.get("boolean")),
            choices=tuple(f["choices"]) if f.get("choices") else None,
            default=f.get("default"),
            aliases=tuple(a.lstrip("-") for a in f.get("aliases") or ()),
            nargs=f.get("nargs"),
        )
        by_alias[name] = name
        for alias in flags[name].aliases:
            by_alias.setdefault(alias, name)
    src = raw.get("source", {})
    return Catalog(raw.get("engine", engine_name), src.get("package", ""),
                   str(src.get("version", "")), flags, by_alias)
