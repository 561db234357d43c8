"""Engine flags in `engine.args` and `parameters`, checked against the engine's real flags.

A misspelt flag otherwise surfaces as a crashed trial minutes into a run (or, worse, is
ignored by an engine that tolerates unknown flags), so names, value types and choices are
checked against the generated catalog (schemas/catalogs/, plus the engine's extra_flags),
which records what the engine's real parser accepts. Every spelling the engine accepts is
taken and normalised to its canonical flag (`tp` is vLLM's -tp; `disable-x: true` is
`x: false`); a flag set under two spellings is an error. Sizes (`8k`), `auto`, choices and
JSON are checked as the parser would (tests/scripts/test_real_parsers.py holds validation to the
parsers' verdicts). Flags tuneops sets itself (host, port, model, served name) are refused
wherever they appear.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from tuneops import registry
from tuneops.checks_base import Context
from tuneops.checks_schema import describe, did_you_mean
from tuneops.registry import Catalog, Flag
from tuneops.spec import GPU_TYPE_PARAM

_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "json": "JSON (a mapping or a list, given as one JSON word)",
    "json-or-str": "JSON (a mapping or a list) or text",
    "comma-list": "a list (given as one comma-separated word) or text",
    "int-or-size": "an integer or a size such as 8k",
    "int-or-auto": "an integer or auto",
    "int-or-size-or-auto": "an integer, a size such as 8k, or auto",
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z]+)")


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


def _size_ok(flag: Flag, value: str) -> bool:
    """Whether the engine's size parser takes `value` (suffixes and decimals as the catalog
    recorded them from the real parser: SGLang and vLLM differ)."""
    match = _SIZE.fullmatch(value.strip())
    if not match:
        return False
    number, suffix = match.groups()
    if suffix not in dict(flag.sizes):
        return False
    return "." not in number or suffix in flag.size_decimals


def _scalar_ok(flag: Flag, value: Any) -> bool:
    kind = flag.type
    if isinstance(value, bool):
        return kind == "bool"
    if kind == "int":
        return isinstance(value, int)
    if kind.startswith("int-or-"):
        if isinstance(value, int):
            return True
        if not isinstance(value, str):
            return False
        if value.strip().lstrip("-").isdigit():
            return True
        auto = value.lower() if flag.folds_case else value
        return ("auto" in kind and auto == "auto") or ("size" in kind and _size_ok(flag, value))
    if kind == "float":
        return isinstance(value, (int, float))
    if kind == "bool":
        return value in ("true", "false")
    if kind == "json":
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                return False
        return isinstance(value, (dict, list, str, int, float))
    return isinstance(value, (str, int, float)) or (
        kind in ("json-or-str",) and isinstance(value, (dict, list)))


def _choice_problem(flag: Flag, value: Any) -> tuple[str, str] | None:
    if not flag.choices:
        return None
    words = [c for c in flag.choices if c is not None]
    given = str(value).lower() if flag.folds_case else str(value)
    if given in {str(c) for c in flag.choices}:
        return None
    return (
        f"{value!r} is not a choice of --{flag.name} ({', '.join(map(str, words))})",
        did_you_mean(str(value), [str(c) for c in words]),
    )


def _value_problem(flag: Flag, value: Any) -> tuple[str, str] | None:
    """(message, hint) when `value` cannot be given to `flag`, else None."""
    dashed = f"--{flag.name}"
    if flag.boolean:
        if not isinstance(value, bool):
            return (
                f"{dashed} is a bare flag and takes true or false, got {describe(value)}",
                "",
            )
        if value is False and flag.off_spelling == "":
            return (
                f"{dashed} cannot be set false: the engine has no inverse spelling for it, "
                f"and left out it means {flag.default!r} (the engine decides)",
                "set it true, or leave it out for the engine's default",
            )
        return None
    if isinstance(value, list):
        if flag.type in ("json", "json-or-str"):
            return None  # one JSON word
        if flag.type == "comma-list":
            if all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
                return None
            return f"{dashed} takes {_TYPE_WORDS[flag.type]}, got a nested value", ""
        if flag.nargs in (None, "?") and flag.action not in ("append", "extend"):
            return f"{dashed} takes one value, got a list", ""
        if isinstance(flag.nargs, int) and len(value) != flag.nargs:
            return f"{dashed} takes exactly {flag.nargs} values, got {len(value)}", ""
        if flag.nargs == "+" and not value:
            return f"{dashed} takes at least one value, got an empty list", ""
        for item in value:
            problem = _value_problem(replace(flag, nargs=None, action="store"), item)
            if problem:
                return problem
        return None
    wanted = _TYPE_WORDS.get(flag.type, flag.type)
    if isinstance(value, bool) and flag.type != "bool":
        return (
            f"{dashed} takes {wanted}, got {describe(value)}",
            "true/false are only for bare (boolean) flags",
        )
    if not _scalar_ok(flag, value):
        hint = ""
        if "size" in flag.type and flag.sizes:
            hint = (f"size suffixes: {', '.join(s for s, _ in flag.sizes)}; a decimal number "
                    f"only with {', '.join(flag.size_decimals) or 'none'}")
        return f"{dashed} takes {wanted}, got {describe(value)}", hint
    return _choice_problem(flag, value)


_INTS = ("int", "int-or-size", "int-or-auto", "int-or-size-or-auto")
_RANGE_OK = {"int": (*_INTS, "float"), "float": ("float",)}


def _check_param(ctx: Context, flag: Flag, name: str, inverse: bool) -> None:
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
        elif flag.boolean:
            problem = _value_problem(flag, False)
            if problem:
                ctx.error(("parameters", name, "type"), *problem)
        return
    if param.kind in _RANGE_OK:
        if flag.boolean or flag.type not in _RANGE_OK[param.kind]:
            hint = "use type: int" if flag.type in _INTS else "list its values instead"
            ctx.error(
                ("parameters", name, "type"),
                f"--{flag.name} takes {_TYPE_WORDS.get(flag.type, flag.type)}, "
                f"so it cannot be a {param.kind} range",
                hint,
            )
        return
    for i, value in enumerate(param.values or ()):
        problem = _value_problem(flag, _inverted(value, inverse))
        if problem:
            ctx.error((*base, i), *problem)


def _inverse_hint(cat: Catalog, bare: str) -> str:
    """For an inverse spelling the engine does not have (`no-enable-x` where vLLM says
    `disable-x`): the one it has."""
    for prefix, swap in (("no-", ""), ("disable-", "enable-"), ("enable-", "disable-")):
        if bare.startswith(prefix):
            flag = cat.flags.get(swap + bare[len(prefix):]) or cat.flags.get(bare[len(prefix):])
            if flag is not None and flag.negations:
                return f"the inverse of --{flag.name} is {flag.negations[0]}"
    return ""


def _inverted(value: Any, inverse: bool) -> Any:
    """The value for the canonical flag when it was given under an inverse spelling."""
    return (not value) if inverse and isinstance(value, bool) else value


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
    # the GPU type parameter is no engine flag: tuneops/checks_gpus.py checks it
    entries += [("parameters", p.name) for p in exp.parameters if p.name != GPU_TYPE_PARAM]
    for path in entries:
        name = path[-1]
        bare = name.lstrip("-")
        inverse = bool(cat) and bare not in cat.by_alias and bare in cat.negated
        canonical = (cat.by_alias.get(bare) or cat.negated.get(bare) or bare) if cat else bare
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
            message = f"{name!r} is {same} {where}"
            if cat and (inverse or other[-1].lstrip("-") in cat.negated):
                message = (f"{name!r} and {where} both set --{canonical} "
                           f"(one is its inverse spelling)")
                hint = f"keep one: {canonical}: true or {canonical}: false"
            ctx.error(path, message, hint, key=True)
            continue
        seen[canonical] = path
        if cat is None:
            continue  # catalog not generated yet: only the owned-flag rule applies
        flag = cat.flags.get(canonical)
        if flag is None:
            hint = (
                _inverse_hint(cat, bare)
                or did_you_mean(bare, [*cat.by_alias, *cat.negated])
                or f"see schemas/catalogs/{engine.catalog_file} for {exp.engine.name}'s flags"
            )
            ctx.error(path, f"unknown {exp.engine.name} flag {bare!r}", hint, key=True)
            continue
        if path[0] == "parameters" and name in tuned:
            _check_param(ctx, flag, name, inverse)
        else:
            problem = _value_problem(flag, _inverted(exp.engine.args[name], inverse))
            if problem:
                ctx.error(path, *problem)
