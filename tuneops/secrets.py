"""Secrets are referenced, never written: resolution of env references and redaction.

An experiment is committed and its renders, reports and logs too, so a token must never
be written into it. `engine.env` values may instead be `{fromEnv: VAR}` (docker, local:
the runner's own VAR is passed to the engine through the Docker API or the process
environment, never on a command line) or `{secretKeyRef: {name, key}}` (ome: the pod reads
a Kubernetes Secret). `redact` is the one pass applied to what tuneops writes (manifests,
reports, journal, engine logs, error messages, crash logs): it masks every value resolved
here and anything shaped like a common token, even one that never went through a
reference.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping

from tuneops.errors import Diagnostic, UserError
from tuneops.spec import Experiment

MASK = "[REDACTED]"
# Hugging Face (hf_ + 34), GitHub classic (ghp_ + 36) and fine-grained (github_pat_ + 82),
# OpenAI-style keys (sk-, 48 and more): the lengths keep ordinary words like
# "sk-learn-model" from matching.
TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_])(?:hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{40,}|sk-[A-Za-z0-9_-]{32,})"
)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words

_values: set[str] = set()
_lock = threading.Lock()


def register(value: str) -> None:
    """Mask `value` in everything written from now on in this process."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _values.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every token-shaped word masked."""
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return TOKEN_SHAPES.sub(MASK, text)


def redact_bytes(data: bytes) -> bytes:
    """`redact` for bytes that may not be UTF-8 (engine logs): undecodable bytes kept."""
    return redact(data.decode("utf-8", errors="surrogateescape")).encode(
        "utf-8", errors="surrogateescape"
    )


def looks_like_token(text: str) -> bool:
    return bool(TOKEN_SHAPES.search(text))


def engine_env(exp: Experiment, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The engine's environment: literal values plus `fromEnv` references resolved from the
    runner's environment (registered for redaction). A missing variable is bad input."""
    environ = os.environ if environ is None else environ
    env = dict(exp.engine.env)
    missing = []
    for name in sorted(exp.engine.secret_env):
        ref = exp.engine.secret_env[name]
        if ref.from_env is None:
            continue  # a Kubernetes Secret: read by the pod, never by us
        value = environ.get(ref.from_env)
        if value is None:
            missing.append(
                Diagnostic(
                    exp.source_file, 0, 0, f"engine.env.{name}",
                    f"references ${ref.from_env}, which is not set in the runner's environment",
                    f"export {ref.from_env} before `tuneops run`",
                )
            )
            continue
        register(value)
        env[name] = value
    if missing:
        raise UserError(missing, summary=f"{exp.source_file}: secrets not available")
    return env
