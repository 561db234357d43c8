"""The simulator's pure-Python BPE counts tokens exactly like the ``tokenizers`` package."""

from __future__ import annotations

import random

import pytest
import tokenizers
from tuneops.engines.sim.bpe import ByteLevelBPE

from tests.sim_helpers import CORPUS, make_tokenizer


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


def _texts() -> list[str]:
    rng = random.Random(7)
    words = " ".join(CORPUS).split()
    mixed = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 60))) for _ in range(40)]
    noisy = ["".join(chr(rng.randint(32, 0x3000)) for _ in range(50)) for _ in range(20)]
    return [*CORPUS, *mixed, *noisy, "", " ", "  leading and trailing  ", "a\n\n\nb\r\nc",
            "<|endoftext|>hello<|endoftext|>", "numbers 1234567 3.14159 -42"]


def test_encode_matches_tokenizers(folder):
    ref = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    ours = ByteLevelBPE.from_file(folder / "tokenizer.json")
    for text in _texts():
        assert ours.encode(text) == ref.encode(text, add_special_tokens=False).ids, text


def test_decode_matches_tokenizers(folder):
    ref = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    ours = ByteLevelBPE.from_file(folder / "tokenizer.json")
    for text in CORPUS:
        ids = ref.encode(text, add_special_tokens=False).ids
        assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=False)


def test_generated_words_count_back_exactly(folder):
    ref = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    ours = ByteLevelBPE.from_file(folder / "tokenizer.json")
    words = ours.word_tokens()
    assert len(words) > 50
    rng = random.Random(1)
    for n in (1, 7, 100, 333):
        picked = [rng.choice(words) for _ in range(n)]
        text = "".join(t for _, t in picked)
        assert len(ref.encode(text, add_special_tokens=False).ids) == n
        assert ref.encode(text, add_special_tokens=False).ids == [i for i, _ in picked]
