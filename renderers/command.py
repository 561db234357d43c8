"""The engine's argv for one trial: the same words for Docker, OME and local runs.

Order is fixed so renders are reproducible and diffs are small: entry point, model,
served name, host, port, then every flag of the trial sorted by canonical name. A value
is written as the engine's real parser reads it, from what the flag catalog records
(action, inverse spellings, nargs, type): see flag_words. JSON values are compact with
sorted keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from tuneops.registry import Catalog, Engine, catalog, engines
from tuneops.spec import Experiment


def format_value(value: Any) -> str:
    """One argv word for a flag value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"flag value is not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _joined(values: list | tuple) -> str:
    return ",".join(format_value(v) for v in values)


def flag_words(name: str, value: Any, cat: Catalog | None = None) -> list[str]:
    """The words that give the engine `value` for flag `name`, as its parser reads them.

    Any spelling the engine accepts is written as the canonical long name (`-tp` becomes
    `--tensor-parallel-size`; `no-x: true` becomes `x: false`). A boolean is its bare flag,
    or for false its inverse spelling where leaving it out would not mean false
    (`--no-enable-x`, `--disable-x`). A JSON flag gets one JSON word, a comma-list flag one
    `a,b` word; other lists follow nargs (all words after one flag) or the action (append:
    the flag once per value)."""
    known = cat.lookup(name) if cat is not None else None
    if known is None:
        flag = "--" + name.lstrip("-")
        if isinstance(value, bool):
            return [flag] if value else []
        if isinstance(value, (list, tuple)):
            return [flag, *(format_value(v) for v in value)]
        return [flag, format_value(value)]
    _, value = cat.normalize(name, value)
    flag = f"--{known.name}"
    if known.boolean and isinstance(value, bool):
        if value:
            return [flag]
        off = known.off_spelling
        if off == "":
            raise ValueError(f"{flag} cannot be set false: the engine has no inverse spelling "
                             f"and its default is {known.default!r}")
        return [off] if off else []
    if known.type in ("json", "json-or-str") and isinstance(value, (dict, list, tuple)):
        return [flag, format_value(list(value) if isinstance(value, tuple) else value)]
    if isinstance(value, (list, tuple)):
        if known.type == "comma-list":
            return [flag, _joined(value)]
        if known.action in ("append", "extend") and known.nargs in (None, "?"):
            out: list[str] = []
            for item in value:
                out += [flag, format_value(item)]
            return out
        if known.nargs in (None, "?"):
            raise ValueError(f"{flag} takes one value, got a list of {len(value)}")
        return [flag, *(format_value(v) for v in value)]
    return [flag, format_value(value)]


def args_words(args: dict[str, Any], cat: Catalog | None = None) -> list[str]:
    """Every flag in `args`, sorted by canonical name."""
    def key(name: str) -> str:
        known = cat.lookup(name) if cat is not None else None
        return known.name if known is not None else name.lstrip("-")

    out: list[str] = []
    for name in sorted(args, key=key):
        out += flag_words(name, args[name], cat)
    return out


def base_words(
    engine: Engine,
    *,
    model: str,
    served_name: str,
    host: str,
    port: int | str,
    local: bool,
    prefix: Sequence[str] | None = None,
) -> list[str]:
    if prefix is None:
        prefix = engine.local_command if local else engine.command
    out = list(prefix)
    out += [engine.model_flag, model] if engine.model_flag else [model]
    out += [engine.served_name_flag, served_name]
    out += [engine.host_flag, host, engine.port_flag, str(port)]
    return out


def engine_command(
    exp: Experiment,
    args: dict[str, Any],
    *,
    host: str,
    port: int | str,
    local: bool,
    model: str | None = None,
    prefix: Sequence[str] | None = None,
) -> list[str]:
    """The engine argv for `args` (a trial's args: engine.args with its params laid over).

    `model` replaces the experiment's model id (OME passes `$(MODEL_PATH)`); `prefix`
    replaces the engine's entry point (`()` when an image's ENTRYPOINT already is the
    server, so the command is only its arguments)."""
    engine = engines()[exp.engine.name]
    words = base_words(
        engine,
        model=exp.model.id if model is None else model,
        served_name=exp.model.served_name,
        host=host,
        port=port,
        local=local,
        prefix=prefix,
    )
    return words + args_words(args, catalog(exp.engine.name))
