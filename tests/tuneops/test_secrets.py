"""Redaction: every registered secret masked whole in everything tuneops writes.

Each case pins one rule a plausible slip would break: longest secret first (else a secret
that prefixes another leaves the other's tail in clear), the minimum length inclusive (a
weaker value is refused before it is registered: secrets.weakness), and bytes that are not
UTF-8 kept as they are around the mask.
"""

from __future__ import annotations

import pytest

from tuneops import secrets


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test starts with no registered value (the registry is per process)."""
    monkeypatch.setattr(secrets, "_values", set())


def test_a_secret_that_prefixes_another_does_not_leak_the_others_tail():
    secrets.register("Kq7vRz2m")
    secrets.register("Kq7vRz2mTAIL9")
    out = secrets.redact("token=Kq7vRz2mTAIL9 short=Kq7vRz2m")
    assert out == f"token={secrets.MASK} short={secrets.MASK}"
    assert "TAIL9" not in out


def test_registration_order_does_not_matter():
    secrets.register("Kq7vRz2mTAIL9")
    secrets.register("Kq7vRz2m")
    assert secrets.redact("Kq7vRz2mTAIL9") == secrets.MASK


def test_a_secret_of_exactly_the_minimum_length_is_masked():
    value = "".join(chr(ord("a") + i) for i in range(secrets.MIN_SECRET_LENGTH))  # distinct
    assert not secrets.weakness(value)
    secrets.register(value)
    assert secrets.redact(f"pw={value};") == f"pw={secrets.MASK};"


def test_a_value_shorter_than_the_minimum_is_not_registered():
    short = "".join(chr(ord("a") + i) for i in range(secrets.MIN_SECRET_LENGTH - 1))
    secrets.register(short)
    assert secrets.redact(f"{short} x") == f"{short} x"  # ordinary words stay readable


def test_undecodable_bytes_are_kept_byte_for_byte():
    secrets.register("s3cret-value")
    raw = b"\xff\xfe engine log \x80 s3cret-value \xc3\x28 end"
    out = secrets.redact_bytes(raw)
    assert out == b"\xff\xfe engine log \x80 " + secrets.MASK.encode() + b" \xc3\x28 end"


def test_token_shapes_are_masked_without_registration():
    tok = "hf_" + "A1b2C3d4E5" * 4
    assert secrets.redact(f"HF_TOKEN={tok}") == f"HF_TOKEN={secrets.MASK}"
    assert secrets.redact("sk-learn-model") == "sk-learn-model"  # too short for a key


def test_the_minimum_length_is_eight_characters():
    """Eight characters is the line between a word and a secret: `abcdefgh` is masked,
    `abcdefg` not (validate refuses the shorter one as a secret, with the reason)."""
    secrets.register("abcdefgh")
    secrets.register("abcdefg")
    assert secrets.redact("abcdefgh abcdefg") == f"{secrets.MASK} abcdefg"
    assert "at least 8" in secrets.weakness("abcdefg")


def _exp(env: dict, mode: str = "docker"):
    from tuneops.spec import from_document

    return from_document({
        "metadata": {"name": "sec"},
        "model": {"id": "org/m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "version": "0.5.23", "env": env},
        "deployment": {"mode": mode, "gpus": {"count": 1, "type": "H100"}},
        "parameters": {"max-running-requests": [8]},
        "benchmark": {"trafficScenarios": ["D(100,100)"], "concurrency": [1],
                      "maxTimePerRun": 1, "maxRequestsPerRun": 10},
        "objective": {"metric": "output_throughput_per_gpu"},
        "slos": [],
    })


def test_engine_env_resolves_from_env_references_and_registers_them():
    exp = _exp({"HF_HUB_OFFLINE": "1", "HF_TOKEN": {"fromEnv": "MY_TOKEN"}})
    env = secrets.engine_env(exp, {"MY_TOKEN": "tok-1234567"})
    assert env == {"HF_HUB_OFFLINE": "1", "HF_TOKEN": "tok-1234567"}
    assert secrets.redact("auth tok-1234567") == f"auth {secrets.MASK}"
    assert secrets.redact("1") == "1"  # a literal value is not a secret


def test_engine_env_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("TUNEOPS_TEST_TOKEN", "from-the-process")
    exp = _exp({"HF_TOKEN": {"fromEnv": "TUNEOPS_TEST_TOKEN"}})
    assert secrets.engine_env(exp)["HF_TOKEN"] == "from-the-process"


def test_a_missing_variable_is_refused_naming_the_field():
    from tuneops.errors import UserError

    exp = _exp({"A_TOKEN": {"fromEnv": "NOT_SET_A"}, "B_TOKEN": {"fromEnv": "NOT_SET_B"}})
    with pytest.raises(UserError) as err:
        secrets.engine_env(exp, {})
    text = str(err.value) + "".join(str(d) for d in err.value.diagnostics)
    assert "engine.env.A_TOKEN" in text and "engine.env.B_TOKEN" in text  # every one named
    assert "$NOT_SET_A" in text
    # a reference's line is not known here: 0 says so (no made-up position)
    assert [(d.line, d.column) for d in err.value.diagnostics] == [(0, 0), (0, 0)]


def test_a_kubernetes_secret_is_never_read_by_the_runner():
    exp = _exp({"HF_TOKEN": {"secretKeyRef": {"name": "hf", "key": "token"}}}, mode="ome")
    assert secrets.engine_env(exp, {"hf": "x", "token": "y"}) == {}


def test_a_kubernetes_secret_does_not_stop_the_references_after_it():
    """Each reference is resolved on its own: one for the pod to read, sorted first, does
    not end the resolution of the `fromEnv` ones after it."""
    exp = _exp({"A_SECRET": {"secretKeyRef": {"name": "hf", "key": "token"}},
                "B_TOKEN": {"fromEnv": "MY_TOKEN"}}, mode="ome")
    assert secrets.engine_env(exp, {"MY_TOKEN": "tok-abcdefg"}) == {"B_TOKEN": "tok-abcdefg"}


def _bits(value: str) -> float:
    """Length x Shannon entropy per character, written as the textbook's -sum p log2 p
    (a reference independent of weakness()'s own n log2(len/n) form)."""
    import math

    probs = [value.count(c) / len(value) for c in set(value)]
    return -len(value) * sum(p * math.log2(p) for p in probs)


@pytest.mark.parametrize("value, refused", [
    ("abcdeabcdeabcdeab", False),  # five distinct characters, 39 bits: a secret
    ("abcdabcdabcdabcdab", True),  # four distinct, 36 bits: too few distinct characters
    ("aaaaaaaaaaaabcde", True),  # five distinct, 21 bits: too little entropy
    ("Kq7vRz2m", False),  # eight distinct in eight: exactly 24 bits
    ("aaabbbcdef", True),  # six distinct, 23.7 bits: just short of 24
])
def test_a_secret_needs_five_distinct_characters_and_24_bits(value, refused):
    """Rule: a value is refused as a secret when it has fewer than MIN_DISTINCT (5)
    different characters OR less than MIN_ENTROPY_BITS (24) of length x Shannon entropy;
    either shortfall alone refuses it, and the bits reported are the real entropy."""
    why = secrets.weakness(value)
    assert bool(why) is refused, why
    if refused:
        distinct = len(set(value))
        assert f"({distinct} distinct characters, {_bits(value):.0f} bits;" in why


def test_redact_data_masks_inside_keys_and_values_at_any_depth_and_nothing_else():
    """Rule: redact_data masks secrets in every string of a JSON-able value (dict keys,
    values, list and tuple items, nested) and leaves numbers, booleans and null as they
    are, so the result parses to the same shape."""
    secrets.register("Kq7vRz2mX")
    doc = {"Kq7vRz2mX-key": ["a Kq7vRz2mX b", 3, True, None, ("Kq7vRz2mX",)],
           "n": 1.5, 7: {"deep": "Kq7vRz2mX"}}
    m = secrets.MASK
    assert secrets.redact_data(doc) == {
        f"{m}-key": [f"a {m} b", 3, True, None, [m]], "n": 1.5, 7: {"deep": m}}
    assert secrets.redact_data(("Kq7vRz2mX", 2)) == [m, 2]
    assert secrets.redact_data(4) == 4 and secrets.redact_data(None) is None


def test_every_weak_reference_is_refused_not_only_the_first():
    """Rule: engine_env names every unusable reference in one refusal (a weak value does
    not end the check of the ones after it), at line 0, column 0 (a reference's position
    is not known here: no made-up one)."""
    from tuneops.errors import UserError

    exp = _exp({"A_TOKEN": {"fromEnv": "WEAK_A"}, "B_TOKEN": {"fromEnv": "WEAK_B"},
                "C_TOKEN": {"fromEnv": "NOT_SET_C"}})
    with pytest.raises(UserError) as err:
        secrets.engine_env(exp, {"WEAK_A": "aaaaaaaaaa", "WEAK_B": "short"})
    fields = [d.path for d in err.value.diagnostics]
    assert fields == ["engine.env.A_TOKEN", "engine.env.B_TOKEN", "engine.env.C_TOKEN"]
    assert [(d.line, d.column) for d in err.value.diagnostics] == [(0, 0)] * 3
    assert "too weak" in str(err.value.diagnostics[0])
    assert secrets.redact("aaaaaaaaaa") == "aaaaaaaaaa"  # a refused value is never registered
