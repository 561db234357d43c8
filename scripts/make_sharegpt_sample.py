"""Generate the small ShareGPT-format dataset shipped as assets/datasets/sharegpt-sample.json.

Every word is made here, from a seed, out of the fixed word lists below: no text is copied
from ShareGPT or any other corpus, so the file is ours to give away (CC0 1.0, see
assets/datasets/README.md). It has the shape of the ShareGPT dumps serving benchmarks
sample from — a JSON array of {"id", "conversations": [{"from": "human"|"gpt", "value"}]}
— with single-turn and multi-turn conversations of varied lengths, so `datasetFormat:
sharegpt` and `multiTurn: true` have something realistic in form to send.

    python scripts/make_sharegpt_sample.py [--seed 22] [--conversations 64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "assets" / "datasets" / "sharegpt-sample.json"
TOPICS = ("a batch scheduler", "the KV cache", "a tokenizer", "prefix caching", "a GPU kernel",
          "speculative decoding", "tensor parallelism", "a load balancer", "chunked prefill",
          "quantization", "a request queue", "memory fragmentation")
ASKS = ("Explain how {t} works", "Write a short guide to tuning {t}",
        "What can go wrong with {t}", "Compare two designs for {t}",
        "Summarize the trade-offs of {t}", "Give an example that uses {t}")
FOLLOW_UPS = ("Can you go into more detail on the second point?", "Show it as a list.",
              "How would that change on a smaller machine?", "What would you measure first?",
              "Now make it shorter.", "Why does that matter for latency?")
WORDS = ("the", "server", "request", "batch", "token", "memory", "latency", "throughput",
         "queue", "cache", "prefill", "decode", "step", "block", "page", "limit", "load",
         "time", "model", "layer", "kernel", "engine", "budget", "size", "rate", "first",
         "each", "when", "then", "while", "because", "so", "more", "less", "and", "or")


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(lo, hi)))


def conversation(rng: random.Random, index: int) -> dict:
    topic = rng.choice(TOPICS)
    first = rng.choice(ASKS).format(t=topic) + ". " + paragraph(rng, 0, 6)
    turns = [{"from": "human", "value": first.strip()},
             {"from": "gpt", "value": paragraph(rng, 2, 12)}]
    for _ in range(rng.choice((0, 0, 1, 2, 3))):  # about half are multi-turn
        turns += [{"from": "human", "value": rng.choice(FOLLOW_UPS)},
                  {"from": "gpt", "value": paragraph(rng, 1, 8)}]
    return {"id": f"sample-{index:04d}", "conversations": turns}


def generate(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    return [conversation(rng, i) for i in range(count)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--conversations", type=int, default=64)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = generate(args.seed, args.conversations)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} ({len(data)} conversations, seed {args.seed})")


if __name__ == "__main__":
    main()
