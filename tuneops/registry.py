"""The engine registry: engines (schemas/engines.yaml) with their flag catalogs, the
single source of truth for engine names; and the experiment schema composed from it and
the deployment modes.

Everything engine-specific is a field of ``Engine``, read from the engine table: how the
engine starts and listens, its flag catalog and how that catalog is made
(scripts/make_catalogs.py), the package whose version the report records, how genai-bench
and OME talk to it, and the facts validate's feasibility rules need (parallelism flags,
where the weights live, thread flags). No module keeps a per-engine dict, so adding an engine
is one entry in schemas/engines.yaml plus its generated catalog, and no code change
(tests/tuneops/test_engine_table.py does it in a scratch copy and checks that nothing else
changed). The table is validated against schemas/engines.schema.json when first read: a
malformed entry is an error naming the entry, the field and its line. Deployment modes have
their own registry above the modes (tuneops.deployments.registry); this module sits below
them and is handed them (``experiment_schema``), never imports them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from yaml import YAMLError

from tuneops import schemas, yamlnodes
from tuneops.errors import Diagnostic, UserError

SEARCH_METHODS = ("grid", "random", "bayesian", "model")
PARALLEL_ROLES = ("tp", "dp", "pp")  # tensor, data, pipeline parallelism
ENGINE_TABLE = schemas.ROOT / "engines.yaml"


@dataclass(frozen=True)
class Engine:
    """One entry of schemas/engines.yaml (schemas/engines.schema.json describes the keys).
    A new optional key of the table is a defaulted field here."""

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
    api_backend: str  # genai-bench --api-backend
    server_engine: str  # genai-bench --server-engine
    simulated: bool
    extra_flags: tuple = ()  # ((name, {type, boolean, choices}), ...)
    thread_flags: tuple[str, ...] = ()  # flags that set compute threads (CPU engines)
    # How scripts/make_catalogs.py makes the catalog: {"real_parser": {...}}, {"builder":
    # "module:function"} or {"copy_of": engine}; None when another entry owns the file.
    catalog_from: dict | None = None
    package: str | None = None  # Python distribution whose version the report records
    ome_protocol: str = ""  # PROTOCOL_VERSION OME gives genai-bench (its --api-backend)
    parallel_flags: tuple[tuple[str, str], ...] = ()  # (role, flag): tp/dp/pp size flags
    dp_in_tp_flag: str | None = None  # set, data parallelism runs inside tensor parallelism
    weights_on_gpus: bool = True  # the weights must fit in GPU memory (validate checks)
    # the flag naming the GPU a simulated engine models; set from the trial's GPU type
    # (deployment.gpus.type, fixed or a parameter: tuneops/plan.py trial_args)
    gpu_type_flag: str | None = None
    # Prometheus endpoint and series mapping ({path, shown_as, series}; {} = none), read by
    # tuneops.runner.telemetry
    metrics: dict = field(default_factory=dict, hash=False, compare=False)


@cache
def engine_table_schema() -> dict:
    return schemas.load_json("engines.schema.json")


def _line_of(doc: Any, path: tuple) -> int:
    """1-based line of `path` in a round-trip-loaded document (0 when unknown)."""
    line = 0
    node = doc
    for key in path:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                line = (lc.key(key) if isinstance(key, str) else lc.item(key))[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def _table_errors(path: Path, raw: Any) -> list[Diagnostic]:
    validator = jsonschema.Draft202012Validator(engine_table_schema())
    out = []
    for err in sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(p) for p in err.path)
        field_path = tuple(err.path)
        if "propertyNames" in err.schema_path:
            # jsonschema reports a bad key at its parent: name the key itself
            field_path += (err.instance,)
            where = ".".join(map(str, field_path))
        allowed = err.schema.get("description", "") if isinstance(err.schema, dict) else ""
        line = _line_of(raw, field_path)
        out.append(Diagnostic(str(path), line, 1 if line else 0, where or "(top)",
                              err.message, allowed))
    raw_map = raw if isinstance(raw, dict) else {}
    owners: dict[str, str] = {}  # catalog file -> the entry that makes it
    for name, e in raw_map.items():
        if not isinstance(e, dict) or not e.get("catalog_from") or "catalog" not in e:
            continue
        if e["catalog"] in owners:
            out.append(Diagnostic(
                str(path), _line_of(raw, (name, "catalog")), 1, f"{name}.catalog",
                f"{owners[e['catalog']]} already makes {e['catalog']!r}",
                "give this engine its own catalog file, or drop its catalog_from to share it"))
        owners.setdefault(e["catalog"], name)
    for name, e in raw_map.items():
        if not isinstance(e, dict):
            continue
        source = e.get("catalog_from") or {}
        if not source and "catalog" in e and e["catalog"] not in owners:
            out.append(Diagnostic(
                str(path), _line_of(raw, (name, "catalog")), 1, f"{name}.catalog",
                f"no entry says how {e.get('catalog')!r} is made",
                "give this entry catalog_from (real_parser, builder or copy_of), or use the "
                "catalog of an entry that has one"))
        base = source.get("copy_of") if isinstance(source, dict) else None
        if base is not None and (base == name or base not in raw_map):
            out.append(Diagnostic(
                str(path), _line_of(raw, (name, "catalog_from", "copy_of")), 1,
                f"{name}.catalog_from.copy_of", f"{base!r} is not another engine of the table",
                "one of: " + ", ".join(sorted(set(raw_map) - {name}))))
    return out


def load_engines(path: Path | None = None) -> dict[str, Engine]:
    """The engine table at `path`, validated; a malformed table raises UserError naming
    each bad entry and field (exit 2). Default: the shipped schemas/engines.yaml."""
    path = Path(path or ENGINE_TABLE)
    try:
        # The same YAML 1.2 reading as experiments (libyaml, positions kept for _line_of)
        raw = _read_table(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError, yamlnodes.Problem, yamlnodes.DuplicateKey,
            ValueError, KeyError) as exc:
        raise UserError([Diagnostic(str(path), 0, 0, "", f"cannot read the engine table: {exc}",
                                    "")]) from None
    problems = _table_errors(path, raw)
    if problems:
        raise UserError(problems, summary=f"{path}: the engine table is malformed")
    return {name: _engine(name, e) for name, e in raw.items()}


def _read_table(text: str) -> Any:
    """One YAML document; a duplicate key, an unknown tag or a second document refused."""
    documents = yamlnodes.compose_all(text, max_depth=64)
    if len(documents) != 1:
        raise ValueError(f"expected one YAML document, found {len(documents)}")
    return yamlnodes.construct(documents[0])


def _plain(value: Any) -> Any:
    """The loader's position-keeping containers as plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _engine(name: str, entry: Any) -> Engine:
    e = _plain(entry)
    parallelism = e.get("parallelism") or {}
    return Engine(
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
        catalog_from=e.get("catalog_from"),
        package=e.get("package"),
        ome_protocol=(e.get("ome") or {}).get("protocol") or e["genai_bench"]["api_backend"],
        parallel_flags=tuple((r, parallelism[r]) for r in PARALLEL_ROLES if r in parallelism),
        dp_in_tp_flag=parallelism.get("dp_in_tp_flag"),
        weights_on_gpus=bool(e.get("weights_on_gpus", True)),
        gpu_type_flag=e.get("gpu_type_flag"),
        metrics=e.get("metrics") or {},
    )


@cache
def engines() -> dict[str, Engine]:
    return load_engines()


def engine_names() -> tuple[str, ...]:
    return tuple(sorted(engines()))


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


def experiment_schema(
    base: dict[str, Any], modes: Mapping[str, Any], with_engine_names: bool = True
) -> dict[str, Any]:
    """The experiment schema with the registries' choices: the ``engine.name`` enum, the
    ``deployment.mode`` enum and each of ``modes``' options block (``deployment.<mode>``;
    the caller hands the modes in: tuneops.deployments.registry). Applied to the committed
    schema with the built-in modes and ``with_engine_names=False`` it changes nothing (a
    test checks it): the committed schema names no engine, so adding an engine (a table
    entry) leaves the generated schema and docs/experiment.md as they are."""
    schema = copy.deepcopy(base)
    if with_engine_names:  # the enum says all the pattern says, and names the choices
        name = schema["properties"]["engine"]["properties"]["name"]
        name.pop("pattern", None)
        name["enum"] = list(engine_names())
    deployment = schema["properties"]["deployment"]
    mode = deployment["properties"]["mode"]
    mode["enum"] = sorted(modes)
    mode["description"] = "Backend: " + ", ".join(
        f"{name} ({m.description})" for name, m in sorted(modes.items())) + "."
    for name, m in modes.items():
        if m.options_schema is not None:
            deployment["properties"][name] = copy.deepcopy(m.options_schema)
    return schema


@cache
def gpu_prices() -> dict[str, float]:
    """schemas/gpus.yaml: the example USD per GPU-hour of each GPU type tuneops prices (the
    cost metrics' default, runner/cost.py; validate asks it whether a compared type has a
    price)."""
    from ruamel.yaml import YAML

    raw = YAML(typ="safe").load((schemas.ROOT / "gpus.yaml").read_text())
    return {str(k): float(v) for k, v in raw.items()}
