"""Hardware and model facts, kept as data in ``engines/sim/data`` so they can be reviewed.

Numbers come from datasheets and the models' ``config.json``; the performance model reads
them through the two small dataclasses here and never hard-codes a GPU or a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL = "Llama-3.1-8B"


@dataclass(frozen=True)
class GpuProfile:
    name: str
    memory_gib: float
    hbm_tbps: float
    bf16_tflops: float
    fp8_tflops: float
    interconnect_gbps: float
    allreduce_latency_us: float
    default_mem_fraction_static: float


@dataclass(frozen=True)
class ModelProfile:
    name: str
    params: float
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    hidden: int
    intermediate: int
    vocab: int
    context_length: int
    architecture: str
    mean_output_tokens: int
    match: tuple[str, ...]


def _table(file: str) -> dict[str, dict]:
    raw = json.loads((DATA / file).read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def gpu_names() -> list[str]:
    return sorted(_table("gpus.json"))


def model_names() -> list[str]:
    return sorted(_table("models.json"))


def gpu(name: str) -> GpuProfile:
    table = _table("gpus.json")
    if name not in table:
        raise KeyError(f"unknown GPU profile {name!r}; known: {', '.join(sorted(table))}")
    return GpuProfile(name=name, **table[name])


def model(name: str) -> ModelProfile:
    table = _table("models.json")
    if name not in table:
        raise KeyError(f"unknown model profile {name!r}; known: {', '.join(sorted(table))}")
    fields = dict(table[name])
    fields["match"] = tuple(fields.get("match", ()))
    return ModelProfile(name=name, **fields)


def guess_model(model_path: str) -> str | None:
    """The profile whose name or match string is the longest substring of the model path."""
    path = model_path.lower().replace("_", "-")
    best, best_len = None, 0
    for name, spec in _table("models.json").items():
        for needle in (name.lower(), *spec.get("match", ())):
            if needle in path and len(needle) > best_len:
                best, best_len = name, len(needle)
    return best
