"""ShareGPT-format conversations: a JSON array of {"conversations": [{"from", "value"}]}.

The format of the ShareGPT dumps vLLM's and SGLang's serving benchmarks sample from
(`from` is human or gpt; `user`/`assistant` and `system` are accepted as written by other
exports). Every record is checked and a bad one is reported at its line.

What a closed-loop load generator sends from it (`prompts`):
- single turn: each conversation's first human turn, as ShareGPT benchmarks do;
- multi-turn: every human turn with the conversation before it as its context, so the
  turns of one conversation share a growing prefix — what prefix caching reuses and
  chunked prefill splits. genai-bench 0.0.5 draws dataset prompts at random, so the turns
  are not sent in session order; an open-loop generator can replay them in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuneops.workloads.problems import MAX_FILE_BYTES, MAX_PROBLEMS, Problem

HUMAN = ("human", "user")
ASSISTANT = ("gpt", "assistant", "chatgpt", "bard", "bing")
SYSTEM = ("system",)
ROLES = HUMAN + ASSISTANT + SYSTEM


@dataclass(frozen=True)
class Conversation:
    line: int  # where its record starts in the file
    turns: tuple[tuple[str, str], ...]  # (role as written, text)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _records(text: str) -> tuple[list[tuple[int, object]], list[Problem]]:
    """The array's elements with the line each starts on (json decodes each in place)."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:pos + 1] == "[":
        return [], [Problem(_line(text, pos), "a ShareGPT file is one JSON array of "
                            "conversations", 'start it with [ {"conversations": [...]}, ...')]
    pos += 1
    out: list[tuple[int, object]] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text[pos:pos + 1] == "]" and not out:
            return out, []
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            return out, [Problem(_line(text, e.pos), f"not JSON: {e.msg}")]
        except RecursionError:
            return out, [Problem(_line(text, pos), "nested too deep to be a conversation")]
        out.append((_line(text, pos), value))
        pos = end
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text[pos:pos + 1] == ",":
            pos += 1
        elif text[pos:pos + 1] == "]":
            rest = text[pos + 1:].strip()
            return out, ([Problem(_line(text, pos + 1), "text after the closing ]")]
                         if rest else [])
        else:
            return out, [Problem(_line(text, pos), "expected , or ] between conversations")]


def _conversation(line: int, record: object) -> tuple[Conversation | None, str]:
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        return None, 'a record is {"conversations": [{"from": ..., "value": ...}, ...]}'
    turns = []
    for i, turn in enumerate(record["conversations"]):
        if not isinstance(turn, dict) or not isinstance(turn.get("from"), str) \
                or not isinstance(turn.get("value"), str):
            return None, f"turn {i}: each turn is {{\"from\": role, \"value\": text}}"
        role = turn["from"].lower()
        if role not in ROLES:
            return None, f"turn {i}: unknown role {turn['from'][:40]!r} (from: {', '.join(ROLES)})"
        turns.append((role, turn["value"]))
    if not any(role in HUMAN and text.strip() for role, text in turns):
        return None, "no human turn with text: nothing to send"
    return Conversation(line, tuple(turns)), ""


def read_sharegpt(path: str | Path) -> tuple[list[Conversation], list[Problem]]:
    """Every conversation of the file, or the problems (at their lines) that stop it."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [Problem(1, f"larger than {MAX_FILE_BYTES >> 20} MiB")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(1, f"cannot read it: {e}")]
    records, problems = _records(text)
    conversations = []
    for line, record in records:
        conv, why = _conversation(line, record)
        if conv is None:
            problems.append(Problem(line, why))
        else:
            conversations.append(conv)
        if len(problems) >= MAX_PROBLEMS:
            break
    if not problems and not conversations:
        problems.append(Problem(1, "no conversations"))
    return conversations, sorted(problems, key=lambda p: p.line)


def _history(turns: tuple[tuple[str, str], ...]) -> str:
    return "\n\n".join(f"{'User' if r in HUMAN else 'System' if r in SYSTEM else 'Assistant'}:"
                       f" {t}" for r, t in turns)


def prompts(conversations: list[Conversation], multi_turn: bool = False) -> list[str]:
    """The prompts sent: each conversation's first human turn, or (multi_turn) every human
    turn with the turns before it as its context."""
    out = []
    for conv in conversations:
        for i, (role, text) in enumerate(conv.turns):
            if role not in HUMAN or not text.strip():
                continue
            out.append(_history(conv.turns[:i + 1]) if multi_turn and i else text)
            if not multi_turn:
                break
    return out
