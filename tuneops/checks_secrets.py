"""Secret checks: a token written into an experiment, or a reference the mode cannot use.

An experiment is committed, and every value in it lands in manifests, reports and command
lines; so a value shaped like a token (tuneops.secrets.TOKEN_SHAPES) is refused wherever it
is written, and the message never repeats it. References must fit the deployment mode:
`fromEnv` needs a runner whose environment the engine inherits (docker, local),
`secretKeyRef` a Kubernetes Secret (ome).
"""

from __future__ import annotations

import os
from typing import Any

from tuneops import secrets
from tuneops.checks_base import Context

_HINT = "reference it instead: engine.env: {NAME: {fromEnv: VAR}} (docker, local) or " \
    "{NAME: {secretKeyRef: {name, key}}} (ome)"


def _strings(node: Any, path: tuple = ()) -> list[tuple[tuple, str, bool]]:
    """(path, text, is_key) of every string in a plain document."""
    out, stack = [], [(node, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                out.append(((*where, k), k, True))
                stack.append((v, (*where, k)))
        elif isinstance(value, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(value))
        elif isinstance(value, str):
            out.append((where, value, False))
    return out


def check(ctx: Context) -> None:
    for path, text, is_key in sorted(_strings(ctx.plain), key=lambda t: str(t[0])):
        if secrets.looks_like_token(text):
            ctx.error(path, "looks like a secret token; experiments are committed", _HINT,
                      key=is_key)
    mode = ctx.exp.deployment.mode
    for name, ref in sorted(ctx.exp.engine.secret_env.items()):
        where = ("engine", "env", name)
        if ref.from_env is not None and mode == "ome":
            ctx.error(where, "fromEnv cannot reach an OME pod: the runner's environment "
                      "stays on this machine", "use {secretKeyRef: {name, key}} for mode ome")
        value = os.environ.get(ref.from_env) if ref.from_env is not None else None
        weak = secrets.weakness(value) if value is not None else ""
        if weak:  # caught here, not halfway into a run; the value itself is never shown
            ctx.error((*where, "fromEnv"), f"${ref.from_env} is too weak to be kept secret: "
                      f"{weak}", "tuneops masks a secret wherever its text appears; "
                      "use the real token")
        if ref.secret_name is not None and mode != "ome":
            ctx.error(where, f"secretKeyRef needs Kubernetes (mode ome), not mode {mode}",
                      "use {fromEnv: VAR} for docker and local")
