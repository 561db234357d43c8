"""Prompt token counts and generated text that the load generator counts the same way.

The tokenizer is found like SGLang finds one (``--tokenizer-path``, then the model folder),
then ``TUNEOPS_SIM_TOKENIZER`` and the repository's ``assets/tokenizer``. Output text is a
sequence of whole-word vocabulary tokens, so re-tokenizing it gives the reported count.
Without any tokenizer.json the counts fall back to ~4 bytes per token.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from pathlib import Path

from tuneops.engines.sim.bpe import ByteLevelBPE

# tuneops' root: the repository, or site-packages/tuneops once installed (same layout).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
TOKENIZER_ENV = "TUNEOPS_SIM_TOKENIZER"
FALLBACK_WORDS = [f" {w}" for w in (
    "the of and to in is that for it as with was on be by at this are from or an have not "
    "which but all they were can there been has more one had will would their what so if "
    "about who when out up into them some could time these two may then do first any like "
    "my now over such our man me even most made after also did many before must through").split()]


def find_tokenizer(*candidates: str | None) -> Path | None:
    env = os.environ.get(TOKENIZER_ENV)
    for cand in (*candidates, env, str(PACKAGE_ROOT / "assets" / "tokenizer")):
        if not cand:
            continue
        path = Path(cand)
        if path.is_dir():
            path = path / "tokenizer.json"
        if path.is_file() and path.name.endswith(".json"):
            return path
    return None


class Tokens:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.bpe = ByteLevelBPE.from_file(path) if path else None
        words = self.bpe.word_tokens() if self.bpe else []
        self.words = [t for _, t in words] or FALLBACK_WORDS

    def count(self, text: str) -> int:
        if self.bpe is None:
            return max(1, math.ceil(len(text.encode("utf-8")) / 4)) if text else 0
        return len(self.bpe.encode(text))

    def count_messages(self, messages: list) -> int:
        total = 0
        for msg in messages:
            content = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(content, str):
                total += self.count(content)
            elif isinstance(content, list):
                total += sum(self.count(p.get("text", "")) for p in content
                             if isinstance(p, dict) and p.get("type") == "text")
        return total

    @staticmethod
    def rng(seed: int, prompt_key: str) -> random.Random:
        digest = hashlib.sha256(f"{seed}\0{prompt_key}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))
