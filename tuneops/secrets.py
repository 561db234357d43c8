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

import math
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

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
# A secret is masked wherever its text appears, so a short or repetitive one ("true",
# "2026", "aaaaaaaa") would mask ordinary words and numbers in every report: such values
# are refused (validate, and run where the variable is resolved) with the reason.
MIN_SECRET_LENGTH = 8
MIN_DISTINCT = 5  # different characters
MIN_ENTROPY_BITS = 24.0  # length x Shannon entropy per character


def weakness(value: str) -> str:
    """Why `value` is too weak to be masked safely, or '' when it is fine."""
    if len(value) < MIN_SECRET_LENGTH:
        return f"it is {len(value)} characters long; a secret needs at least {MIN_SECRET_LENGTH}"
    counts = Counter(value)
    bits = sum(n * math.log2(len(value) / n) for n in counts.values())  # len x Shannon H
    if len(counts) < MIN_DISTINCT or bits < MIN_ENTROPY_BITS:
        return (f"it has low entropy ({len(counts)} distinct characters, {bits:.0f} bits; "
                f"a secret needs {MIN_DISTINCT} and {MIN_ENTROPY_BITS:.0f})")
    return ""

_values: set[str] = set()
_lock = threading.Lock()


def register(value: str) -> None:
    """Mask `value` in everything written from now on in this process."""
    if not weakness(value):  # a weak one is refused before it gets here (engine_env)
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


def redact_data(value: Any) -> Any:
    """A JSON-able value with secrets masked inside its strings (keys and values) only:
    numbers, true/false/null and the JSON syntax around them are never touched, so the
    result still parses to the same shape."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k) if isinstance(k, str) else k: redact_data(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


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
        weak = weakness(value)
        if weak:
            missing.append(Diagnostic(
                exp.source_file, 0, 0, f"engine.env.{name}",
                f"${ref.from_env} is too weak to be kept secret: {weak}",
                "tuneops masks a secret wherever its text appears; use the real token",
            ))
            continue
        register(value)
        env[name] = value
    if missing:
        raise UserError(missing, summary=f"{exp.source_file}: secrets not available")
    return env
