"""Byte-level BPE encoding from a Hugging Face ``tokenizer.json``, in pure Python.

The simulator must count prompt tokens exactly as genai-bench does (it loads the same
tokenizer with the ``tokenizers`` package), but it runs in a bare python3 image, so the
encoder is re-implemented here: added-token split, pre-tokenizer regex (``\\p{L}``/``\\p{N}``
expanded from ``unicodedata``, which Python's ``re`` lacks), the byte-to-unicode table, and
merges applied by rank with a per-word cache.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from pathlib import Path


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (no whitespace/control)."""
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in keep}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


@functools.cache
def _category_ranges(prefix: str) -> str:
    """Character-class body (no brackets) for every code point whose category starts so."""
    parts, start, prev = [], None, None
    category = unicodedata.category
    for cp in range(sys.maxunicode + 1):
        if category(chr(cp)).startswith(prefix):
            if start is None:
                start = cp
            prev = cp
        elif start is not None:
            parts.append(_span(start, prev))
            start = None
    if start is not None:
        parts.append(_span(start, prev))
    return "".join(parts)


def _span(lo: int, hi: int) -> str:
    esc = lambda cp: re.escape(chr(cp))  # noqa: E731
    return esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}"


_PROP = re.compile(r"\\([pP])\{(\w+)\}")


def translate_regex(pattern: str) -> str:
    """Rewrite Oniguruma/Rust-style ``\\p{X}`` classes into ranges Python's ``re`` accepts."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            m = _PROP.match(pattern, i)
            if m:
                body = _category_ranges(m.group(2))
                negated = m.group(1) == "P"
                if in_class and not negated:
                    out.append(body)
                elif not in_class:
                    out.append(f"[{'^' if negated else ''}{body}]")
                else:
                    raise ValueError(f"\\P{{..}} inside a class is not supported: {pattern!r}")
                i = m.end()
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def _split(regex: re.Pattern, text: str, behavior: str, invert: bool) -> list[str]:
    """Split ``text`` by matches the way ``tokenizers``' SplitDelimiterBehavior does."""
    spans, pos = [], 0  # (piece, is_match)
    for m in regex.finditer(text):
        if m.start() == m.end():
            continue
        if m.start() > pos:
            spans.append((text[pos : m.start()], False))
        spans.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        spans.append((text[pos:], False))
    if invert:
        spans = [(s, not is_m) for s, is_m in spans]
    behavior = behavior.lower()
    if behavior == "isolated":
        return [s for s, _ in spans]
    if behavior == "removed":
        return [s for s, is_m in spans if not is_m]
    if behavior == "mergedwithprevious":
        out: list[str] = []
        for s, is_m in spans:
            if is_m and out:
                out[-1] += s
            else:
                out.append(s)
        return out
    if behavior == "mergedwithnext":
        out, carry = [], ""
        for s, is_m in spans:
            if is_m:
                carry += s
            else:
                out.append(carry + s)
                carry = ""
        if carry:
            out.append(carry)
        return out
    if behavior == "contiguous":
        out, last = [], None
        for s, is_m in spans:
            if out and is_m and last:
                out[-1] += s
            else:
                out.append(s)
            last = is_m
        return out
    raise ValueError(f"unsupported split behavior {behavior!r}")


class ByteLevelBPE:
    """Encoder/decoder for byte-level BPE tokenizer.json files (GPT-2, Llama-3, Qwen style)."""

    def __init__(self, spec: dict) -> None:
        model = spec["model"]
        if model.get("type", "BPE") != "BPE":
            raise ValueError(f"only BPE models are supported, not {model.get('type')!r}")
        self.vocab: dict[str, int] = model["vocab"]
        self.ranks: dict[tuple[str, str], int] = {}
        for rank, merge in enumerate(model.get("merges", [])):
            a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
            self.ranks[(a, b)] = rank
        self.ignore_merges = bool(model.get("ignore_merges", False))
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.added = {t["content"]: t["id"] for t in spec.get("added_tokens") or []}
        for content, tid in self.added.items():
            self.id_to_token[tid] = content
        self._added_re = (
            re.compile("|".join(re.escape(c) for c in sorted(self.added, key=len, reverse=True)))
            if self.added
            else None
        )
        self._normalizers = self._flatten(spec.get("normalizer"))
        self._pre = self._build_pre(self._flatten(spec.get("pre_tokenizer")))
        self._b2u = bytes_to_unicode()
        self._u2b = {u: b for b, u in self._b2u.items()}
        self._latin1_to_b2u = {b: u for b, u in self._b2u.items()}  # str.translate table
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> ByteLevelBPE:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    @staticmethod
    def _flatten(node: dict | None) -> list[dict]:
        if not node:
            return []
        if node.get("type") == "Sequence":
            key = "pretokenizers" if "pretokenizers" in node else "normalizers"
            return [leaf for child in node[key] for leaf in ByteLevelBPE._flatten(child)]
        return [node]

    def _build_pre(self, steps: list[dict]) -> list:
        built = []
        for step in steps:
            kind = step["type"]
            if kind == "ByteLevel":
                regex = re.compile(translate_regex(GPT2_PATTERN)) if step.get(
                    "use_regex", True) else None
                built.append(("bytelevel", regex, bool(step.get("add_prefix_space", False))))
            elif kind == "Split":
                pat = step["pattern"]
                source = pat["Regex"] if "Regex" in pat else re.escape(pat["String"])
                built.append((
                    "split", re.compile(translate_regex(source)),
                    step.get("behavior", "Isolated"), bool(step.get("invert", False)),
                ))
            elif kind == "Digits":
                regex = re.compile(r"\d" if step.get("individual_digits") else r"\d+")
                built.append(("split", regex, "Isolated", False))
            else:
                raise ValueError(f"unsupported pre-tokenizer {kind!r}")
        return built

    def _normalize(self, text: str) -> str:
        for step in self._normalizers:
            kind = step["type"]
            if kind in ("NFC", "NFD", "NFKC", "NFKD"):
                text = unicodedata.normalize(kind, text)
            elif kind == "Lowercase":
                text = text.lower()
            else:
                raise ValueError(f"unsupported normalizer {kind!r}")
        return text

    def _pre_tokenize(self, text: str) -> list[str]:
        pieces = [text]
        for step in self._pre:
            if step[0] == "split":
                _, regex, behavior, invert = step
                pieces = [p for piece in pieces for p in _split(regex, piece, behavior, invert)]
            else:
                _, regex, prefix = step
                if prefix:
                    pieces = [p if p.startswith(" ") else " " + p for p in pieces]
                if regex is not None:
                    pieces = [p for piece in pieces
                              for p in _split(regex, piece, "isolated", False)]
        table = self._latin1_to_b2u
        return [p.encode("utf-8").decode("latin-1").translate(table) for p in pieces if p]

    def _bpe(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        vocab = self.vocab
        if self.ignore_merges and word in vocab:
            ids = [vocab[word]]
        else:
            symbols = list(word)
            ranks = self.ranks
            while len(symbols) > 1:
                best, best_rank = None, None
                for i in range(len(symbols) - 1):
                    r = ranks.get((symbols[i], symbols[i + 1]))
                    if r is not None and (best_rank is None or r < best_rank):
                        best, best_rank = (symbols[i], symbols[i + 1]), r
                if best is None:
                    break
                merged, i = [], 0
                while i < len(symbols):
                    if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                        merged.append(symbols[i] + symbols[i + 1])
                        i += 2
                    else:
                        merged.append(symbols[i])
                        i += 1
                symbols = merged
            ids = [vocab[s] for s in symbols if s in vocab]
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens (``add_special_tokens=False``)."""
        ids: list[int] = []
        segments = [(text, False)]
        if self._added_re is not None:
            segments, pos = [], 0
            for m in self._added_re.finditer(text):
                if m.start() > pos:
                    segments.append((text[pos : m.start()], False))
                segments.append((m.group(), True))
                pos = m.end()
            if pos < len(text):
                segments.append((text[pos:], False))
        for seg, is_added in segments:
            if is_added:
                ids.append(self.added[seg])
                continue
            for word in self._pre_tokenize(self._normalize(seg)):
                ids.extend(self._bpe(word))
        return ids

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def token_text(self, tid: int) -> str:
        """Decoded text of one token (byte-level decoder)."""
        tok = self.id_to_token[tid]
        if tid in self.added.values() and tok in self.added:
            return tok
        return bytes(self._u2b[c] for c in tok if c in self._u2b).decode("utf-8", "replace")

    def decode(self, ids: list[int]) -> str:
        out, raw = [], bytearray()
        for tid in ids:
            tok = self.id_to_token[tid]
            if tok in self.added and self.added[tok] == tid:
                out.append(raw.decode("utf-8", "replace"))
                out.append(tok)
                raw.clear()
            else:
                raw += bytes(self._u2b[c] for c in tok if c in self._u2b)
        out.append(raw.decode("utf-8", "replace"))
        return "".join(out)

    def word_tokens(self, limit: int = 2000) -> list[tuple[int, str]]:
        """Tokens that are a space plus a lowercase word and re-encode to themselves alone.

        Output text is a sequence of these, so re-tokenizing it gives back exactly the count
        the server reports: the pre-tokenizer splits at each leading space.
        """
        word = re.compile(r"^ [a-z]{2,}$")
        picked = []
        for tid in sorted(self.id_to_token):
            text = self.token_text(tid)
            if word.match(text) and self.encode(text) == [tid]:
                picked.append((tid, text))
                if len(picked) >= limit:
                    break
        return picked
