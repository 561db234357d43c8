"""Generate a small Llama GGUF with seeded random weights, so llama.cpp can be tuned offline.

There is no model hub here, so tuneops makes its own model: the Llama architecture with the
shapes of a preset, weights drawn from a seeded generator (output is gibberish, the compute is
real), and the vocabulary of ``assets/tokenizer`` embedded as a ``gpt2`` tokenizer so llama.cpp
counts tokens exactly as genai-bench does. The same arguments always give the same bytes; an
existing file made with the same arguments is kept (the arguments live in its metadata).

    python scripts/make_model.py [OUT.gguf] [--preset tiny|small|base] [--dtype q8_0|f16|f32]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = REPO / "assets" / "tokenizer"
CACHE = REPO / ".cache" / "models"
PARAMS_KEY = "tuneops.make_model.params"
FORMAT = 1  # bump when the generator changes what it writes


@dataclass(frozen=True)
class Preset:
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_ctx_train: int = 4096


PRESETS = {
    # tiny: loads in well under a second, for tests.
    "tiny": Preset(n_embd=128, n_layer=2, n_head=4, n_head_kv=4, n_ff=352),
    # small: tens of millions of parameters, so decode on a 2-core CPU is compute-bound and
    # threads / parallel slots / batch sizes move throughput.
    "small": Preset(n_embd=512, n_layer=8, n_head=8, n_head_kv=4, n_ff=1408),
    "base": Preset(n_embd=768, n_layer=12, n_head=12, n_head_kv=4, n_ff=2048),
}
DTYPES = ("q8_0", "f16", "f32")


def default_path(preset: str, dtype: str = "q8_0", seed: int = 0) -> Path:
    return CACHE / f"tuneops-llama-{preset}-{dtype}-s{seed}.gguf"


def load_vocab(folder: Path) -> dict:
    """tokens, token types, merges and special ids from a tokenizers ``tokenizer.json``."""
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    tokens = [None] * len(vocab)
    for text, idx in vocab.items():
        tokens[idx] = text
    if None in tokens:
        raise ValueError(f"{folder}: token ids are not contiguous")
    special = {t["content"]: t["id"] for t in data["added_tokens"] if t["special"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    return {
        "tokens": tokens,
        # llama.cpp token types: 1 normal, 3 control.
        "types": [3 if t in special else 1 for t in tokens],
        "merges": merges,
        "bos": special[config["bos_token"]],
        "eos": special[config["eos_token"]],
        "chat_template": config.get("chat_template"),
    }


def _params(preset: str, dtype: str, seed: int, tokenizer: Path) -> dict:
    digest = hashlib.sha256((tokenizer / "tokenizer.json").read_bytes()).hexdigest()
    return {"format": FORMAT, "preset": preset, **asdict(PRESETS[preset]), "dtype": dtype,
            "seed": seed, "tokenizer_sha256": digest}


def stored_params(path: Path) -> dict | None:
    """The generator arguments recorded in an existing GGUF, or None if unreadable/foreign."""
    from gguf import GGUFReader

    try:
        field = GGUFReader(path).get_field(PARAMS_KEY)
    except Exception:  # noqa: BLE001 - any unreadable file is simply regenerated
        return None
    return None if field is None else json.loads(field.contents())


def _weights(preset: Preset, n_vocab: int, seed: int):
    """(name, float32 array) in llama.cpp's Llama tensor names, numpy shape (out, in)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    head_dim = preset.n_embd // preset.n_head
    kv = preset.n_head_kv * head_dim

    def mat(rows: int, cols: int):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)

    def ones(n: int):
        return np.ones(n, dtype=np.float32)

    yield "token_embd.weight", mat(n_vocab, preset.n_embd)
    for i in range(preset.n_layer):
        yield f"blk.{i}.attn_norm.weight", ones(preset.n_embd)
        yield f"blk.{i}.attn_q.weight", mat(preset.n_embd, preset.n_embd)
        yield f"blk.{i}.attn_k.weight", mat(kv, preset.n_embd)
        yield f"blk.{i}.attn_v.weight", mat(kv, preset.n_embd)
        yield f"blk.{i}.attn_output.weight", mat(preset.n_embd, preset.n_embd)
        yield f"blk.{i}.ffn_norm.weight", ones(preset.n_embd)
        yield f"blk.{i}.ffn_gate.weight", mat(preset.n_ff, preset.n_embd)
        yield f"blk.{i}.ffn_up.weight", mat(preset.n_ff, preset.n_embd)
        yield f"blk.{i}.ffn_down.weight", mat(preset.n_embd, preset.n_ff)
    yield "output_norm.weight", ones(preset.n_embd)
    yield "output.weight", mat(n_vocab, preset.n_embd)


def _encode(array, dtype: str):
    """Store 1-D tensors (norms) as f32, matrices in ``dtype`` (llama.cpp's own convention)."""
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    if array.ndim == 1 or dtype == "f32":
        return array, GGMLQuantizationType.F32
    if dtype == "f16":
        return array.astype(np.float16), GGMLQuantizationType.F16
    return quants.quantize(array, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0


def count_params(preset: str, n_vocab: int) -> int:
    p = PRESETS[preset]
    kv = p.n_head_kv * (p.n_embd // p.n_head)
    per_layer = 2 * p.n_embd + 2 * p.n_embd * p.n_embd + 2 * kv * p.n_embd + 3 * p.n_ff * p.n_embd
    return 2 * n_vocab * p.n_embd + p.n_layer * per_layer + p.n_embd


def write(path: Path, preset: str, dtype: str, seed: int, tokenizer: Path = TOKENIZER) -> Path:
    import gguf

    p = PRESETS[preset]
    vocab = load_vocab(tokenizer)
    params = _params(preset, dtype, seed, tokenizer)
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_name(f"tuneops-llama-{preset}")
    w.add_string(PARAMS_KEY, json.dumps(params, sort_keys=True))
    w.add_context_length(p.n_ctx_train)
    w.add_embedding_length(p.n_embd)
    w.add_block_count(p.n_layer)
    w.add_feed_forward_length(p.n_ff)
    w.add_head_count(p.n_head)
    w.add_head_count_kv(p.n_head_kv)
    w.add_rope_dimension_count(p.n_embd // p.n_head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(vocab["tokens"]))
    w.add_file_type(file_type)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(vocab["tokens"])
    w.add_token_types(vocab["types"])
    w.add_token_merges(vocab["merges"])
    w.add_bos_token_id(vocab["bos"])
    w.add_eos_token_id(vocab["eos"])
    w.add_pad_token_id(vocab["eos"])
    w.add_add_bos_token(False)
    if vocab["chat_template"]:
        w.add_chat_template(vocab["chat_template"])
    for name, array in _weights(p, len(vocab["tokens"]), seed):
        data, qtype = _encode(array, dtype)
        w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path


def ensure(path: Path | None = None, preset: str = "small", dtype: str = "q8_0", seed: int = 0,
           tokenizer: Path = TOKENIZER) -> tuple[Path, bool]:
    """The model at ``path`` (default: the cache), generated unless already there; (path, made)."""
    path = Path(path) if path else default_path(preset, dtype, seed)
    if path.exists() and stored_params(path) == _params(preset, dtype, seed, tokenizer):
        return path, False
    return write(path, preset, dtype, seed, tokenizer), True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path,
                        help="output file (default: .cache/models/<name>.gguf)")
    parser.add_argument("--preset", "--size", choices=sorted(PRESETS), default="small")
    parser.add_argument("--dtype", choices=DTYPES, default="q8_0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", type=Path, default=TOKENIZER)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path, made = ensure(args.out, args.preset, args.dtype, args.seed, args.tokenizer)
    n_vocab = len(load_vocab(args.tokenizer)["tokens"])
    print(f"{'wrote' if made else 'kept'} {path} ({args.preset}, {args.dtype}, "
          f"{count_params(args.preset, n_vocab) / 1e6:.1f}M params, "
          f"{path.stat().st_size / 2**20:.1f} MiB, {time.perf_counter() - start:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
