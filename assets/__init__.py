"""Data files every part shares, shipped with the package: the tokenizer that the
simulator, the generated llama.cpp model and genai-bench all use (``assets/tokenizer``).

Experiments name it by its repository path, ``assets/tokenizer``; installed, that path
resolves here (``runner.bench.command.local_path``)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOKENIZER = ROOT / "tokenizer"
