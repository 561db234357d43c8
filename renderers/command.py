"""The engine's argv for one trial: the same words for Docker, OME and local runs.

Order is fixed so renders are reproducible and diffs are small: entry point, model,
served name, host, port, then every flag of the trial sorted by name. A value is
written as the engine's parser expects it: booleans as bare flags, lists after one flag
(or one flag per value when the catalog says the flag takes a single value), JSON
values compact with sorted keys.
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


def flag_words(name: str, value: Any, cat: Catalog | None = None) -> list[str]:
    """`--name value` for one flag; [] for a false boolean."""
    flag = "--" + name.lstrip("-")
    known = cat.lookup(name) if cat is not None else None
    if isinstance(value, bool) and (known is None or known.boolean or known.type == "bool"):
        return [flag] if value else []
    if isinstance(value, (list, tuple)):
        words = [format_value(v) for v in value]
        if known is not None and known.nargs in (None, "?"):
            out: list[str] = []
            for word in words:  # a single-valued flag given a list: repeat it (append)
                out += [flag, word]
            return out
        return [flag, *words]
    return [flag, format_value(value)]


def args_words(args: dict[str, Any], cat: Catalog | None = None) -> list[str]:
    """Every flag in `args`, sorted by name."""
    out: list[str] = []
    for name in sorted(args):
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
