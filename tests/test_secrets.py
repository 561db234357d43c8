"""Redaction: every registered secret masked whole in everything tuneops writes.

Each case pins one rule a plausible slip would break: longest secret first (else a secret
that prefixes another leaves the other's tail in clear), the minimum length inclusive, and
bytes that are not UTF-8 kept as they are around the mask.
"""

from __future__ import annotations

import pytest

from tuneops import secrets


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test starts with no registered value (the registry is per process)."""
    monkeypatch.setattr(secrets, "_values", set())


def test_a_secret_that_prefixes_another_does_not_leak_the_others_tail():
    secrets.register("abcd")
    secrets.register("abcdTAIL9")
    out = secrets.redact("token=abcdTAIL9 short=abcd")
    assert out == f"token={secrets.MASK} short={secrets.MASK}"
    assert "TAIL9" not in out


def test_registration_order_does_not_matter():
    secrets.register("abcdTAIL9")
    secrets.register("abcd")
    assert secrets.redact("abcdTAIL9") == secrets.MASK


def test_a_secret_of_exactly_the_minimum_length_is_masked():
    value = "x" * secrets.MIN_SECRET_LENGTH
    secrets.register(value)
    assert secrets.redact(f"pw={value};") == f"pw={secrets.MASK};"


def test_a_value_shorter_than_the_minimum_is_not_registered():
    secrets.register("x" * (secrets.MIN_SECRET_LENGTH - 1))
    assert secrets.redact("xxx xxxx") == "xxx xxxx"  # ordinary words stay readable


def test_undecodable_bytes_are_kept_byte_for_byte():
    secrets.register("s3cret-value")
    raw = b"\xff\xfe engine log \x80 s3cret-value \xc3\x28 end"
    out = secrets.redact_bytes(raw)
    assert out == b"\xff\xfe engine log \x80 " + secrets.MASK.encode() + b" \xc3\x28 end"


def test_token_shapes_are_masked_without_registration():
    tok = "hf_" + "A1b2C3d4E5" * 4
    assert secrets.redact(f"HF_TOKEN={tok}") == f"HF_TOKEN={secrets.MASK}"
    assert secrets.redact("sk-learn-model") == "sk-learn-model"  # too short for a key
