"""Engine flags in `engine.args` and `parameters`, checked against the engine's real flags.

A misspelt flag otherwise surfaces as a crashed trial minutes into a run (or, worse, is
ignored by an engine that tolerates unknown flags), so names, value types and choices are
checked against the generated catalog (schemas/catalogs/, plus the engine's extra_flags).
Flags tuneops sets itself (host, port, model, served name) are refused wherever they appear.
"""

from __future__ import annotations

from typing import Any

from tuneops import registry
from tuneops.checks_base import Context
from tuneops.checks_schema import describe, did_you_mean
from tuneops.registry import Catalog, Flag

_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "json": "JSON (a mapping, list or text)",
}


def _norm_version(v: str) -> str:
    return v.strip().lstrip("vV")


def _owned_flags(engine: registry.Engine, cat: Catalog | None) -> dict[str, str]:
    """Canonical flag name -> why tuneops, not the experiment, sets it."""
    owned = {
        engine.host_flag: "tuneops chooses the address every trial listens on",
        engine.port_flag: "tuneops chooses a free port for every trial",
        engine.served_name_flag: "tuneops sets it from model.servedName",
        engine.model_flag or "--model": "tuneops passes model.id",
    }
    out = {}
    for flag, why in owned.items():
        name = flag.lstrip("-")
        out[(cat.by_alias.get(name, name) if cat else name)] = why
    return out


def _value_problem(flag: Flag, value: Any) -> tuple[str, str] | None:
    """(message, hint) when `value` cannot be given to `flag`, else None."""
    dashed = f"--{flag.name}"
    if flag.boolean:
        if not isinstance(value, bool):
            return (
                f"{dashed} is a bare flag and takes true (add it) or false (leave it out), "
                f"got {describe(value)}",
                "",
            )
        return None
    if isinstance(value, list) and flag.type != "json":
        if not flag.nargs:
            return f"{dashed} takes one value, got a list", ""
        for item in value:
            problem = _value_problem(
                Flag(flag.name, flag.type, False, flag.choices, None, ()), item
            )
            if problem:
                return problem
        return None
    wanted = _TYPE_WORDS.get(flag.type, flag.type)
    if isinstance(value, bool) and flag.type != "bool":
        return (
            f"{dashed} takes {wanted}, got {describe(value)}",
            "true/false are only for bare (boolean) flags",
        )
    ok = {
        "int": isinstance(value, int),
        "float": isinstance(value, (int, float)),
        "str": isinstance(value, (str, int, float)),
        "bool": isinstance(value, bool) or value in ("true", "false"),
        "json": isinstance(value, (dict, list, str, int, float)),
    }.get(flag.type, True)
    if not ok:
        return f"{dashed} takes {wanted}, got {describe(value)}", ""
    if flag.choices and str(value) not in {str(c) for c in flag.choices}:
        choices = ", ".join(map(str, flag.choices))
        return (
            f"{value!r} is not a choice of {dashed} ({choices})",
            did_you_mean(str(value), [str(c) for c in flag.choices]),
        )
    return None


_RANGE_OK = {"int": ("int", "float"), "float": ("float",)}


def _check_param(ctx: Context, flag: Flag, name: str) -> None:
    raw = ctx.get("parameters", name)
    param = next(p for p in ctx.exp.parameters if p.name == name)
    base: tuple = ("parameters", name) if isinstance(raw, list) else ("parameters", name, "values")
    if param.kind == "bool":
        if not (flag.boolean or flag.type == "bool"):
            ctx.error(
                ("parameters", name, "type"),
                f"--{flag.name} is not a boolean flag, so it cannot be tried off and on",
                f"list its values instead: {{values: [...]}} ({_TYPE_WORDS[flag.type]})",
            )
        return
    if param.kind in _RANGE_OK:
        if flag.boolean or flag.type not in _RANGE_OK[param.kind]:
            hint = "use type: int" if flag.type == "int" else "list its values instead"
            ctx.error(
                ("parameters", name, "type"),
                f"--{flag.name} takes {_TYPE_WORDS.get(flag.type, flag.type)}, "
                f"so it cannot be a {param.kind} range",
                hint,
            )
        return
    for i, value in enumerate(param.values or ()):
        problem = _value_problem(flag, value)
        if problem:
            ctx.error((*base, i), *problem)


def check(ctx: Context) -> None:
    exp = ctx.exp
    engine = registry.engines()[exp.engine.name]
    cat = registry.catalog(exp.engine.name)
    owned = _owned_flags(engine, cat)
    if cat and exp.engine.version is not None and cat.version:
        if _norm_version(exp.engine.version) != _norm_version(cat.version):
            ctx.error(
                ("engine", "version"),
                f"engine.version {exp.engine.version} differs from the version of the flag "
                f"catalog that flags are checked against ({cat.package or exp.engine.name} "
                f"{cat.version})",
                f"set version: {cat.version!r}, or regenerate the catalog for "
                f"{exp.engine.version} (make catalogs)",
            )
    seen: dict[str, tuple] = {}
    tuned = {p.name for p in exp.parameters}
    entries = [("engine", "args", n) for n in exp.engine.args]
    entries += [("parameters", p.name) for p in exp.parameters]
    for path in entries:
        name = path[-1]
        bare = name.lstrip("-")
        canonical = cat.by_alias.get(bare, bare) if cat else bare
        if canonical in owned:
            ctx.error(
                path,
                f"--{bare} is set by tuneops, not by the experiment",
                f"{owned[canonical]}; remove it",
                key=True,
            )
            continue
        if canonical in seen:
            other = seen[canonical]
            same = "the same flag as" if other[-1] != name else "also set in"
            where = ".".join(map(str, other))
            hint = (
                "a tuned value replaces the fixed one: remove it from engine.args"
                if path[0] == "parameters" and other[0] == "engine"
                else "keep one"
            )
            ctx.error(path, f"{name!r} is {same} {where}", hint, key=True)
            continue
        seen[canonical] = path
        if cat is None:
            continue  # catalog not generated yet: only the owned-flag rule applies
        flag = cat.flags.get(canonical)
        if flag is None:
            hint = did_you_mean(bare, list(cat.by_alias)) or (
                f"see schemas/catalogs/{engine.catalog_file} for {exp.engine.name}'s flags"
            )
            ctx.error(path, f"unknown {exp.engine.name} flag {bare!r}", hint, key=True)
            continue
        if path[0] == "parameters" and name in tuned:
            _check_param(ctx, flag, name)
        else:
            problem = _value_problem(flag, exp.engine.args[name])
            if problem:
                ctx.error(path, *problem)
