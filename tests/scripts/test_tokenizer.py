"""The committed offline tokenizer is reproducible and loads offline as genai-bench loads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

REPO = ROOT
ASSETS = REPO / "assets" / "tokenizer"
SCRIPT = REPO / "scripts" / "make_tokenizer.py"
FILES = ["README.md", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]


def _make(out: Path) -> Path:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], check=True,
                   capture_output=True, text=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    base = tmp_path_factory.mktemp("tok")
    return _make(base / "a"), _make(base / "b")


def test_two_runs_are_byte_identical(twice):
    a, b = twice
    assert sorted(p.name for p in a.iterdir()) == FILES
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_committed_folder_is_what_the_script_makes(twice):
    fresh, _ = twice
    for name in FILES:
        assert (ASSETS / name).read_bytes() == (fresh / name).read_bytes(), (
            f"assets/tokenizer/{name} differs from a fresh run: training text changed "
            "(compare the sha256 table in its README) or the script changed without a rerun")


def test_plain_gpt2_recipe_the_simulator_can_reimplement():
    data = json.loads((ASSETS / "tokenizer.json").read_text())
    assert data["normalizer"] is None
    assert data["pre_tokenizer"]["type"] == "ByteLevel"
    assert data["pre_tokenizer"]["use_regex"] is True
    assert data["pre_tokenizer"]["add_prefix_space"] is False
    assert data["model"]["type"] == "BPE"
    assert data["decoder"]["type"] == "ByteLevel"
    assert 4096 <= len(data["model"]["vocab"]) <= 8192
    assert sorted(data["model"]["vocab"].values()) == list(range(len(data["model"]["vocab"])))


def _offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": "/nonexistent-hf-home"}


def test_transformers_loads_it_offline():
    """In a child process with the hub disabled, as genai-bench runs it."""
    code = r"""
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
text = "Shall I compare thee to a summer's day? 1234 naïve café 🚀"
ids = tok.encode(text, add_special_tokens=False)
chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                               add_generation_prompt=True)
print(json.dumps({"n": len(tok), "bos": tok.bos_token, "eos": tok.eos_token,
                  "eos_id": tok.eos_token_id, "roundtrip": tok.decode(ids) == text,
                  "ids": ids, "chat": chat}))
"""
    out = subprocess.run([sys.executable, "-c", code, str(ASSETS)], env=_offline_env(),
                         capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert 4096 <= got["n"] <= 8192
    assert got["bos"] == got["eos"] == "<|endoftext|>"
    assert got["eos_id"] == 0
    assert got["roundtrip"] is True
    from tokenizers import Tokenizer

    ref = Tokenizer.from_file(str(ASSETS / "tokenizer.json"))
    text = "Shall I compare thee to a summer's day? 1234 naïve café 🚀"
    assert got["ids"] == ref.encode(text, add_special_tokens=False).ids
    assert got["chat"] == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
