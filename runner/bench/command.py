"""The genai-bench command line for a trial: one invocation, every scenario × level.

Flag values are mapped onto what genai-bench 0.0.5 accepts (its click choices are
case-sensitive); tokenizer and dataset paths are made absolute, because genai-bench runs
in the trial's output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

from tuneops.errors import Diagnostic, UserError
from tuneops.registry import engines
from tuneops.spec import Experiment
from tuneops.workloads import prompts, read_sharegpt
from tuneops.workloads.paths import find_local

# genai-bench 0.0.5's click choices (case-sensitive); anything else makes it exit 2.
GPU_TYPES = ("H100", "A100-80G", "A100-40G", "MI300", "A10", "H200", "B200", "RTX-PRO-6000")
SERVER_ENGINES = ("vLLM", "SGLang", "TGI", "cohere-TensorRT", "cohere-vLLM", "LlamaCPP")
_GPU_ALIASES = {"A100-80GB": "A100-80G", "A100-40GB": "A100-40G", "MI300X": "MI300",
                "RTX PRO 6000": "RTX-PRO-6000"}
RESULTS_FOLDER = "results"  # <out_dir>/results/ holds genai-bench's experiment folder
LOG_FILE = "genai-bench.log"
RUN_SLACK_S = 30.0  # per scenario × level: spawn, 1 s drain, aggregation
FIXED_SLACK_S = 180.0  # start-up (imports, tokenizer) and the final xlsx/plots




def gpu_type_flag(gpu_type: str | None) -> str | None:
    """The --server-gpu-type genai-bench accepts for ours, or None to omit the flag."""
    if not gpu_type:
        return None
    if gpu_type in GPU_TYPES:
        return gpu_type
    upper = gpu_type.upper()
    for known in GPU_TYPES:
        if known.upper() == upper:
            return known
    return _GPU_ALIASES.get(upper) or _GPU_ALIASES.get(gpu_type)


def server_engine_flag(name: str) -> str | None:
    """The --server-engine genai-bench accepts for the engine table's `server_engine`
    (matched without case), or None to omit the flag (an engine genai-bench does not know)."""
    return next((known for known in SERVER_ENGINES if known.lower() == name.lower()), None)


def api_backend(engine_name: str) -> str:
    """genai-bench --api-backend for an engine, from the engine table (schemas/engines.yaml
    says why llama.cpp uses `vllm`: genai-bench's `openai` backend strips ignore_eos)."""
    return engines()[engine_name].api_backend


def local_path(exp: Experiment, value: str) -> str:
    """`value` as an absolute path when it names something local (next to the experiment
    file, else the working directory, else data shipped with tuneops such as
    `assets/tokenizer`); otherwise unchanged (a hub id). genai-bench runs in the trial's
    output folder, so relative paths would break."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return _usable(exp, p, value)
    found = find_local(value, exp.source_file)
    return _usable(exp, found, value) if found is not None else value


def _usable(exp: Experiment, path: Path, value: str) -> str:
    """`path` when it is a regular file or a folder (what a model, tokenizer or dataset is);
    a FIFO, socket or device would hang or flood the engine or genai-bench that opens it.
    Checked with stat, which never blocks (an open of a FIFO would)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return str(path)  # gone again: the engine reports it missing, with its own words
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return str(path)
    raise UserError([Diagnostic(exp.source_file, 0, 0, "", f"{value!r} is not a regular file "
                                f"or a folder ({path})", "a model, tokenizer or dataset path "
                                "names a file or a folder")])


def resolve_tokenizer(exp: Experiment) -> str:
    return local_path(exp, exp.model.tokenizer)


def request_params(exp: Experiment) -> dict[str, Any]:
    return dict(exp.benchmark.additional_request_params)


def genai_bench_executable() -> str:
    """The genai-bench next to this interpreter (the venv), else the one on PATH."""
    local = Path(sys.executable).parent / "genai-bench"
    if local.exists():
        return str(local)
    return shutil.which("genai-bench") or "genai-bench"


def build_command(
    exp: Experiment,
    base_url: str,
    out_dir: str | os.PathLike,
    *,
    gpu_count: int,
    genai_bench: str | None = None,
    api_key: str = "tuneops",
) -> list[str]:
    """The full genai-bench argv for one trial: every scenario × level in one invocation."""
    b = exp.benchmark
    engine = engines()[exp.engine.name]
    out_dir = Path(out_dir).resolve()
    cmd = [
        genai_bench or genai_bench_executable(), "benchmark",
        "--api-backend", api_backend(exp.engine.name),
        "--api-base", base_url.rstrip("/"),
        "--api-key", api_key,
        "--api-model-name", exp.model.served_name,
        "--model-tokenizer", resolve_tokenizer(exp),
        "--model", exp.model.id,
        "--task", b.task,
    ]
    for scenario in b.traffic_scenarios:
        cmd += ["--traffic-scenario", scenario]
    for level in b.concurrency:
        cmd += ["--num-concurrency", str(int(level))]
    cmd += [
        "--max-time-per-run", str(int(b.max_time_per_run_min)),  # minutes, as genai-bench counts
        "--max-requests-per-run", str(int(b.max_requests_per_run)),
    ]
    server_engine = server_engine_flag(engine.server_engine)
    if server_engine:
        cmd += ["--server-engine", server_engine]
    if exp.engine.version:
        cmd += ["--server-version", str(exp.engine.version)]
    gpu_type = gpu_type_flag(exp.deployment.gpus.type) if gpu_count > 0 else None
    if gpu_type:
        cmd += ["--server-gpu-type", gpu_type]
    if gpu_count > 0:
        cmd += ["--server-gpu-count", str(gpu_count)]
    cmd += [
        "--experiment-base-dir", str(out_dir),
        "--experiment-folder-name", RESULTS_FOLDER,
        "--log-dir", str(out_dir),
    ]
    params = request_params(exp)
    if params:
        cmd += ["--additional-request-params", json.dumps(params, sort_keys=True)]
    if b.dataset:
        cmd += ["--dataset-path", dataset_path(exp, out_dir)]
    if b.prefix_tokens is not None:
        cmd += ["--prefix-len", str(int(b.prefix_tokens))]
    if b.prefix_ratio is not None:
        cmd += ["--prefix-ratio", repr(float(b.prefix_ratio))]
    return cmd


SHAREGPT_PROMPTS = "sharegpt-prompts.json"  # in the trial's folder: what genai-bench reads


def dataset_path(exp: Experiment, out_dir: Path) -> str:
    """The --dataset-path for genai-bench: the dataset as given, or, for a ShareGPT file,
    its prompts (tuneops/workloads/sharegpt.py) written once as the JSON list of strings
    genai-bench's text loader takes (genai_bench/data/sources.py `_load_json_file`)."""
    b = exp.benchmark
    path = local_path(exp, b.dataset)
    if b.dataset_format != "sharegpt":
        return path
    conversations, problems = read_sharegpt(path)
    if problems:  # validate reported them; the file changed since
        p = problems[0]
        raise UserError([Diagnostic(path, p.line, 1, "benchmark.dataset", p.message, p.hint)])
    out = out_dir / SHAREGPT_PROMPTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(prompts(conversations, b.multi_turn), ensure_ascii=False))
    return str(out)


def bench_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Offline, headless: no hub downloads, no live dashboard."""
    env = dict(os.environ if base is None else base)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ENABLE_UI="false",
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1")
    return env


def timeout_for(exp: Experiment) -> float:
    """Hard limit for one invocation: every run at its time cap, plus slack."""
    b = exp.benchmark
    runs = max(len(b.traffic_scenarios), 1) * max(len(b.concurrency), 1)
    return runs * (b.max_time_per_run_min * 60.0 + RUN_SLACK_S) + FIXED_SLACK_S


