"""The registries: engines (schemas/engines.yaml) with their flag catalogs, and
deployment modes (built-in ones and plug-ins). Each is the single source of truth.

The experiment schema's engine enum and every launcher are checked against the engine
table in tests; adding an engine that speaks an existing API means one entry in
schemas/engines.yaml plus its catalog. Deployment modes are classes loaded by name (see
``deployment_modes``), so a mode installed as a plug-in joins the schema, the CLI, plan,
render and the runner without an edit here.
"""

from __future__ import annotations

import copy
import importlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from ruamel.yaml import YAML

from tuneops import schemas

# Built-in deployment modes, "module:Class"; plug-ins add theirs as entry points.
BUILTIN_MODES = {
    "docker": "tuneops.deployments.docker:DockerMode",
    "local": "tuneops.deployments.local:LocalMode",
    "ome": "tuneops.deployments.ome:OmeMode",
}
MODE_ENTRY_POINTS = "tuneops.deployments"
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
    # Prometheus endpoint and series mapping ({path, shown_as, series}; {} = none), read by
    # tuneops.runner.telemetry
    metrics: dict = field(default_factory=dict, hash=False, compare=False)


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
            metrics=dict(e.get("metrics") or {}),
        )
    return out


ENGINE_NAMES = tuple(sorted(engines()))


# Catalog actions whose flag takes no value: true/false decide which spelling is written.
BOOLEAN_ACTIONS = ("store_true", "store_false", "boolean_optional", "enable_disable")


@dataclass(frozen=True)
class Flag:
    """One engine flag as the engine's real parser knows it (schemas/catalogs/, generated
    by scripts/make_catalogs.py; docs/architecture.md describes the fields)."""

    name: str  # canonical long name, no dashes: what tuneops always writes
    type: str  # int | float | str | bool | json | json-or-str | comma-list | int-or-size | ...
    boolean: bool  # takes no value (its action is one of BOOLEAN_ACTIONS)
    choices: tuple | None
    default: object
    aliases: tuple[str, ...]  # other spellings that set it, without dashes (tp, model)
    nargs: str | int | None = None
    action: str = "store"
    negations: tuple[str, ...] = ()  # spellings that set it false, with dashes (--no-x)
    dest: str | None = None  # the parser's attribute
    sizes: tuple[tuple[str, int], ...] = ()  # size suffix -> multiplier (int-or-size types)
    size_decimals: tuple[str, ...] = ()  # suffixes that take a decimal number (2.5k)
    auto_value: object = None  # what `auto` parses to (int-or-auto types)
    folds_case: bool = False  # the engine lower-cases the word first (AUTO, AITER)

    @property
    def off_spelling(self) -> str | None:
        """How to say false on the command line: nothing (None) where leaving the flag out
        already means false, its inverse spelling where the default is not false, and
        "" where the engine has no way to say it (a store_true whose default is None)."""
        if self.action == "store_false" or self.default is False:
            return None
        return self.negations[0] if self.negations else ""


@dataclass(frozen=True)
class Catalog:
    engine: str
    package: str
    version: str
    flags: dict[str, Flag]
    by_alias: dict[str, str]  # every spelling that sets a flag, no dashes -> canonical name
    negated: dict[str, str]  # every inverse spelling, no dashes -> canonical name

    def lookup(self, name: str) -> Flag | None:
        canonical = self.by_alias.get(name.lstrip("-")) or self.negated.get(name.lstrip("-"))
        return self.flags.get(canonical) if canonical else None

    def normalize(self, name: str, value: object) -> tuple[str, object]:
        """(canonical name, value) for any spelling the engine accepts: an inverse spelling
        (`no-x: true`, `disable-x: true`) becomes the flag it inverts, with the value
        inverted (`x: false`). Unknown names come back unchanged."""
        bare = name.lstrip("-")
        if bare in self.by_alias:
            return self.by_alias[bare], value
        if bare in self.negated and isinstance(value, bool):
            return self.negated[bare], not value
        return name, value


def _flag(name: str, f: dict) -> Flag:
    return Flag(
        name=name,
        type=f.get("type", "str"),
        boolean=bool(f.get("boolean")),
        choices=tuple(f["choices"]) if f.get("choices") else None,
        default=f.get("default"),
        aliases=tuple(a.lstrip("-") for a in f.get("aliases") or ()),
        nargs=f.get("nargs"),
        action=f.get("action") or ("store_true" if f.get("boolean") else "store"),
        negations=tuple(f.get("negations") or ()),
        dest=f.get("dest"),
        sizes=tuple((f.get("sizes") or {}).items()),
        size_decimals=tuple(f.get("size_decimals") or ()),
        auto_value=f.get("auto"),
        folds_case=bool(f.get("folds_case")),
    )


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
    negated: dict[str, str] = {}
    for name, f in raw["flags"].items():
        flags[name] = _flag(name, f)
        by_alias[name] = name
    for name, flag in flags.items():
        for alias in flag.aliases:
            by_alias.setdefault(alias, name)
        for spelling in flag.negations:
            negated.setdefault(spelling.lstrip("-"), name)
    src = raw.get("source", {})
    return Catalog(raw.get("engine", engine_name), src.get("package", ""),
                   str(src.get("version", "")), flags, by_alias, negated)


@cache
def deployment_modes() -> dict[str, Any]:
    """Mode name -> mode (a ``tuneops.deployments.base.DeploymentMode``), built-in ones
    first, then every installed ``tuneops.deployments`` entry point.

    Modes are imported by name, never statically: the schema and plan need only their
    class attributes, and the modes themselves sit above the renderers in the layers."""
    targets = dict(BUILTIN_MODES)
    for ep in entry_points(group=MODE_ENTRY_POINTS):
        targets.setdefault(ep.name, ep.value)
    out = {}
    for name, target in sorted(targets.items()):
        module, _, attr = target.partition(":")
        mode = getattr(importlib.import_module(module), attr)()
        if mode.name != name:
            raise ValueError(f"deployment mode {target} calls itself {mode.name!r}, not {name!r}")
        out[name] = mode
    return out


def deployment_mode(name: str) -> Any:
    return deployment_modes()[name]


def experiment_schema(base: dict[str, Any], builtin_only: bool = False) -> dict[str, Any]:
    """The experiment schema with the registries' choices: the ``engine.name`` enum, the
    ``deployment.mode`` enum and each mode's options block (``deployment.<mode>``). Applied
    to the committed schema it changes nothing for the built-in modes (a test checks it);
    plug-ins are added."""
    schema = copy.deepcopy(base)
    schema["properties"]["engine"]["properties"]["name"]["enum"] = list(ENGINE_NAMES)
    deployment = schema["properties"]["deployment"]
    modes = {n: m for n, m in deployment_modes().items()
             if not builtin_only or n in BUILTIN_MODES}
    mode = deployment["properties"]["mode"]
    mode["enum"] = sorted(modes)
    mode["description"] = "Backend: " + ", ".join(
        f"{name} ({m.description})" for name, m in sorted(modes.items())) + "."
    for name, m in modes.items():
        if m.options_schema is not None:
            deployment["properties"][name] = copy.deepcopy(m.options_schema)
    return schema
