"""Shared fixtures for the simulator tests: a tokenizer folder and a flag catalog.

The real ones (``assets/tokenizer``, ``schemas/catalogs/sglang.json``) are made by other
generators; until they exist the tests build stand-ins in the same formats.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_TOKENIZER = REPO / "assets" / "tokenizer"
REAL_CATALOG = REPO / "schemas" / "catalogs" / "sglang.json"

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 2024 and we're testing 123 tokens!",
    "Shall I compare thee to a summer's day? Thou art more lovely and more temperate.",
    "def encode(text):\n    return [ord(c) for c in text]  # bytes, tabs\tand spaces   ",
    "Ünïcödé: naïve café, Straße, 東京タワー, Москва, عربى, emoji 🚀🔥 and ½ ² Ⅻ.",
    "Inference servers batch requests continuously; KV cache memory bounds concurrency.",
]


def make_tokenizer(folder: Path) -> Path:
    """The shared tokenizer if present, else a throwaway byte-level BPE (vocab 4096)."""
    if (REAL_TOKENIZER / "tokenizer.json").exists():
        return REAL_TOKENIZER
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "tokenizer.json").exists():
        return folder
    genai = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    sonnet = next(genai.glob("site-packages/genai_bench/data/sonnet.txt"), None)
    text = (sonnet.read_text() if sonnet else "") + "\n".join(CORPUS * 50)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4096, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>",
        "bos_token": "<|endoftext|>", "model_max_length": 131072,
    }))
    return folder


def flag(name, type_="str", default=None, choices=None, boolean=False, aliases=(), nargs=None):
    return name, {"type": type_, "boolean": boolean, "choices": choices, "default": default,
                  "aliases": list(aliases), "nargs": nargs, "help": ""}


STANDIN_FLAGS = dict([
    flag("model-path", aliases=["model"]), flag("tokenizer-path"),
    flag("host", default="127.0.0.1"), flag("port", "int", 30000),
    flag("served-model-name"), flag("api-key"),
    flag("tp-size", "int", 1, aliases=["tensor-parallel-size"]),
    flag("dp-size", "int", 1, aliases=["data-parallel-size"]),
    flag("mem-fraction-static", "float"), flag("max-total-tokens", "int"),
    flag("max-running-requests", "int"), flag("max-prefill-tokens", "int", 16384),
    flag("chunked-prefill-size", "int"),
    flag("schedule-policy", default="fcfs", choices=["lpm", "random", "fcfs", "dfs-weight", "lof"]),
    flag("schedule-conservativeness", "float", 1.0),
    flag("disable-cuda-graph", "bool", False, boolean=True),
    flag("cuda-graph-max-bs", "int"), flag("cuda-graph-max-bs-decode", "int"),
    flag("disable-decode-cuda-graph", "bool", False, boolean=True),
    flag("enable-torch-compile", "bool", False, boolean=True),
    flag("torch-compile-max-bs", "int", 32),
    flag("enable-mixed-chunk", "bool", False, boolean=True),
    flag("disable-radix-cache", "bool", False, boolean=True),
    flag("kv-cache-dtype", default="auto", choices=["auto", "fp8_e5m2", "fp8_e4m3", "bf16"]),
    flag("quantization"), flag("context-length", "int"), flag("random-seed", "int"),
    flag("stream-interval", "int", 1), flag("enable-metrics", "bool", False, boolean=True),
    flag("log-level", default="info"), flag("trust-remote-code", "bool", False, boolean=True),
    flag("json-model-override-args", "json", "{}"),
])


def make_catalog(path: Path) -> Path:
    """The generated SGLang catalog if present, else a small stand-in in the same format."""
    if REAL_CATALOG.exists():
        return REAL_CATALOG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "engine": "sglang",
        "source": {"package": "sglang", "version": "stand-in", "file": "tests/sim_helpers.py",
                   "generated_by": "tests/sim_helpers.py"},
        "flags": dict(sorted(STANDIN_FLAGS.items())),
    }, indent=1))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sim_env(catalog: Path, tokenizer: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TUNEOPS_SIM_CATALOG"] = str(catalog)
    env["TUNEOPS_SIM_TOKENIZER"] = str(tokenizer)
    env["PYTHONPATH"] = str(REPO)
    return env


class SimServer:
    """A ``python -m tuneops.engines.sim`` subprocess on 127.0.0.1; always killed on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._logf = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuneops.engines.sim", "--host", "127.0.0.1", "--port",
             str(self.port), "--time-scale", "0.001", *args],
            cwd=str(REPO), env=env, stdout=self._logf, stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sim exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(self.log.read_text())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
