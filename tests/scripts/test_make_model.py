"""The GGUF generator is deterministic, idempotent, embeds the shared tokenizer, and loads."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

REPO = ROOT
SCRIPT = REPO / "scripts" / "make_model.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


mm = _load_script()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    _run(str(path), "--preset", "tiny")
    return path


def test_same_seed_same_bytes_other_seed_other_bytes(tiny, tmp_path):
    again = tmp_path / "again.gguf"
    _run(str(again), "--preset", "tiny")
    assert _sha(again) == _sha(tiny)
    other = tmp_path / "other.gguf"
    _run(str(other), "--preset", "tiny", "--seed", "1")
    assert _sha(other) != _sha(tiny)


def test_existing_file_with_same_parameters_is_kept(tiny, tmp_path):
    path = tmp_path / "m.gguf"
    _, made = mm.ensure(path, "tiny")
    assert made
    stamp = path.stat().st_mtime_ns
    assert mm.ensure(path, "tiny") == (path, False)
    assert path.stat().st_mtime_ns == stamp
    assert "kept" in _run(str(path), "--preset", "tiny")
    _, made = mm.ensure(path, "tiny", dtype="f16")  # other parameters: regenerated
    assert made
    assert mm.stored_params(path)["dtype"] == "f16"
    path.write_bytes(b"not a gguf")  # a broken file is replaced, not trusted
    assert mm.ensure(path, "tiny")[1]


def test_default_output_is_the_git_ignored_cache():
    path = mm.default_path("small")
    assert path.parent == REPO / ".cache" / "models"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO)
    assert ignored.returncode == 0


def test_gguf_carries_llama_shapes_and_the_shared_tokenizer(tiny):
    from gguf import GGUFReader

    reader = GGUFReader(tiny)

    def value(key):
        return reader.get_field(key).contents()

    vocab = mm.load_vocab(mm.TOKENIZER)
    preset = mm.PRESETS["tiny"]
    assert value("general.architecture") == "llama"
    assert value("llama.block_count") == preset.n_layer
    assert value("llama.embedding_length") == preset.n_embd
    assert value("tokenizer.ggml.model") == "gpt2"
    assert value("tokenizer.ggml.pre") == "gpt-2"
    assert value("tokenizer.ggml.tokens") == vocab["tokens"]
    assert value("tokenizer.ggml.merges") == vocab["merges"]
    assert value("tokenizer.ggml.eos_token_id") == vocab["eos"]
    assert value("tokenizer.chat_template") == vocab["chat_template"]
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "output.weight", "blk.1.ffn_down.weight"} <= names
    n_params = sum(int(t.n_elements) for t in reader.tensors)
    assert n_params == mm.count_params("tiny", len(vocab["tokens"]))


def test_presets_grow_and_small_is_tens_of_millions():
    n = len(mm.load_vocab(mm.TOKENIZER)["tokens"])
    sizes = [mm.count_params(p, n) for p in ("tiny", "small", "base")]
    assert sizes == sorted(sizes)
    assert 10e6 <= sizes[1] < 100e6


def test_xllamacpp_loads_it_and_generates(tiny):
    """In a child process, so a crash in llama.cpp fails this test rather than pytest."""
    code = r"""
import json, sys, xllamacpp as x
p = x.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 512
p.n_parallel = 1
p.verbosity = 1
p.port = 0
s = x.Server(p)
r = s.handle_completions({"prompt": "Shall I compare thee", "max_tokens": 12,
                          "ignore_eos": True, "temperature": 0})
print(json.dumps(r["usage"]))
"""
    out = subprocess.run([sys.executable, "-c", code, str(tiny)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    usage = json.loads(out.stdout.strip().splitlines()[-1])
    assert usage["completion_tokens"] == 12
    assert usage["prompt_tokens"] > 0
