"""Drive genai-bench against a serving engine and read back what it measured.

One genai-bench invocation covers every traffic scenario × concurrency level of a trial,
so the engine is deployed once per trial. Its JSON results are converted here, once, into
tuneops' metric names and units (latencies ms, throughputs tokens/s). Anything that goes
wrong (non-zero exit, no result files, every request errored, timeout, cancellation) comes
back as a `BenchOutcome` with `ok=False` and a reason — never as an exception — so the
runner can record a failed_benchmark trial and carry on.

Per-GPU throughput divides by the GPUs the trial holds; on CPU (no GPUs) the divisor is 1,
so "per GPU" reads "per machine".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.results import Metrics
from tuneops.metrics import LATENCIES, STATS
from tuneops.registry import engines
from tuneops.spec import Experiment

# genai-bench 0.0.5's click choices (case-sensitive); anything else makes it exit 2.
GPU_TYPES = ("H100", "A100-80G", "A100-40G", "MI300", "A10", "H200", "B200", "RTX-PRO-6000")
SERVER_ENGINES = ("vLLM", "SGLang", "TGI", "cohere-TensorRT", "cohere-vLLM", "LlamaCPP")
_GPU_ALIASES = {"A100-80GB": "A100-80G", "A100-40GB": "A100-40G", "MI300X": "MI300",
                "RTX PRO 6000": "RTX-PRO-6000"}
_ENGINE_ALIASES = {"llama.cpp": "LlamaCPP", "llamacpp": "LlamaCPP", "vllm": "vLLM",
                   "sglang": "SGLang"}
RESULTS_FOLDER = "results"  # <out_dir>/results/ holds genai-bench's experiment folder
LOG_FILE = "genai-bench.log"
RUN_SLACK_S = 30.0  # per scenario × level: spawn, 1 s drain, aggregation
FIXED_SLACK_S = 180.0  # start-up (imports, tokenizer) and the final xlsx/plots


@dataclass
class BenchOutcome:
    """What one genai-bench invocation produced: metrics, or why there are none."""

    ok: bool
    metrics: Metrics = field(default_factory=dict)
    reason: str = ""
    returncode: int | None = None
    folder: str = ""  # genai-bench's experiment folder
    log_path: str = ""
    duration_s: float = 0.0
    cancelled: bool = False
    timed_out: bool = False
    files: list[str] = field(default_factory=list)  # result JSONs read
    missing: list[str] = field(default_factory=list)  # "scenario@concurrency" never measured


# ---------------------------------------------------------------------------- command


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
    if name in SERVER_ENGINES:
        return name
    return _ENGINE_ALIASES.get(name) or _ENGINE_ALIASES.get(name.lower())


def api_backend(engine_name: str) -> str:
    """genai-bench --api-backend for an engine, from the engine table (schemas/engines.yaml
    says why llama.cpp uses `vllm`: genai-bench's `openai` backend strips ignore_eos)."""
    return engines()[engine_name].api_backend


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def local_path(exp: Experiment, value: str) -> str:
    """`value` as an absolute path when it names something local (next to the experiment
    file, else in the repository, else the working directory); otherwise unchanged (a hub
    id). genai-bench runs in the trial's output folder, so relative paths would break."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    bases = []
    if exp.source_file:
        bases.append(Path(exp.source_file).resolve().parent)
    bases += [repo_root(), Path.cwd()]
    for base in bases:
        if (base / p).exists():
            return str((base / p).resolve())
    return value


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
        cmd += ["--dataset-path", local_path(exp, b.dataset)]
    return cmd


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


# ---------------------------------------------------------------------------- process


class BenchProcess:
    """A running genai-bench in its own process group, so stopping it stops its children."""

    def __init__(self, cmd: list[str], out_dir: str | os.PathLike,
                 env: dict[str, str] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out_dir / LOG_FILE
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self._log.write(("$ " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=bench_env() if env is None else env, cwd=self.out_dir,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    def terminate(self, grace_s: float = 5.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after `grace_s`. Idempotent."""
        if self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def wait(self, timeout_s: float, cancel: threading.Event | None = None) -> tuple[int, str]:
        """Wait for exit; returns (returncode, "" | "cancelled" | "timeout")."""
        deadline = self.started + timeout_s
        why = ""
        try:
            while self.proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    why = "cancelled"
                elif time.monotonic() >= deadline:
                    why = "timeout"
                if why:
                    self.terminate()
                    break
                if cancel is not None:
                    cancel.wait(0.25)
                else:
                    time.sleep(0.25)
            rc = self.proc.wait()
        finally:
            self._log.close()
        return rc, why


def log_tail(path: str | os.PathLike, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_benchmark(
    cmd: list[str],
    out_dir: str | os.PathLike,
    timeout_s: float,
    env: dict[str, str] | None = None,
    *,
    cancel: threading.Event | None = None,
    gpu_count: int = 1,
    expected: list[tuple[str, int]] | None = None,
) -> BenchOutcome:
    """Run genai-bench to completion (or timeout / cancel) and parse what it wrote."""
    t0 = time.monotonic()
    try:
        proc = BenchProcess(cmd, out_dir, env)
    except OSError as e:
        return BenchOutcome(ok=False, reason=f"could not start genai-bench: {e}")
    rc, why = proc.wait(timeout_s, cancel)
    folder = Path(out_dir) / RESULTS_FOLDER
    outcome = parse_results(folder, gpu_count=gpu_count, expected=expected)
    outcome.returncode = rc
    outcome.log_path = str(proc.log_path)
    outcome.duration_s = round(time.monotonic() - t0, 3)
    if why == "cancelled":
        outcome.ok, outcome.cancelled, outcome.reason = False, True, "benchmark cancelled"
    elif why == "timeout":
        outcome.ok, outcome.timed_out = False, True
        outcome.reason = f"genai-bench did not finish within {timeout_s:.0f}s"
    elif rc != 0 and (not outcome.ok or outcome.missing):
        tail = log_tail(proc.log_path)
        detail = outcome.reason or (
            "missing runs: " + ", ".join(outcome.missing) if outcome.missing else "")
        outcome.ok = False
        outcome.reason = f"genai-bench exited with {rc}" + (f"; {detail}" if detail else "") + (
            f"\n{tail}" if tail else "")
    return outcome


def run(
    exp: Experiment,
    base_url: str,
    out_dir: str | os.PathLike,
    *,
    gpu_count: int,
    cancel: threading.Event | None = None,
    genai_bench: str | None = None,
    timeout_s: float | None = None,
) -> BenchOutcome:
    """Benchmark one deployed trial: build the command, run it, parse the results."""
    cmd = build_command(exp, base_url, out_dir, gpu_count=gpu_count, genai_bench=genai_bench)
    expected = [(s, int(c)) for s in exp.benchmark.traffic_scenarios
                for c in exp.benchmark.concurrency]
    return run_benchmark(cmd, out_dir, timeout_s or timeout_for(exp), bench_env(),
                         cancel=cancel, gpu_count=gpu_count, expected=expected)


# ---------------------------------------------------------------------------- parsing


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def run_metrics(data: dict[str, Any], gpu_count: int = 1) -> tuple[str, int, dict[str, float]]:
    """(scenario, concurrency, {tuneops metric: value}) from one genai-bench run JSON."""
    agg = data["aggregated_metrics"]
    to_ms = 1000.0 if data.get("_time_unit", "s") == "s" else 1.0
    level_key = "batch_size" if agg.get("iteration_type") == "batch_size" else "num_concurrency"
    out: dict[str, float] = {}

    def put(name: str, value: Any, scale: float = 1.0) -> None:
        v = _num(value)
        if v is not None:
            out[name] = v * scale

    per = max(int(gpu_count), 1)  # CPU: per machine
    put("output_throughput", agg.get("mean_output_throughput_tokens_per_s"))
    put("input_throughput", agg.get("mean_input_throughput_tokens_per_s"))
    put("total_throughput", agg.get("mean_total_tokens_throughput_tokens_per_s"))
    put("output_throughput_per_gpu", agg.get("mean_output_throughput_tokens_per_s"), 1 / per)
    put("total_throughput_per_gpu", agg.get("mean_total_tokens_throughput_tokens_per_s"), 1 / per)
    put("requests_per_s", agg.get("requests_per_second"))
    # genai-bench 0.0.5 divides by num_requests before it sets it, so its error_rate is 0
    # even when requests failed: recompute it from the counts it does get right.
    done, errors = _num(agg.get("num_completed_requests")), _num(agg.get("num_error_requests"))
    if done is not None and errors is not None and done + errors > 0:
        out["error_rate"] = errors / (done + errors)
        out["num_requests"] = done + errors
    else:
        put("error_rate", agg.get("error_rate"))
        put("num_requests", agg.get("num_requests"))
    put("num_completed_requests", done)
    put("num_error_requests", errors)
    for code, count in sorted((agg.get("error_codes_frequency") or {}).items()):
        put(f"errors.{code}", count)
    put("run_duration_s", agg.get("run_duration"))
    stats = agg.get("stats") or {}
    for lat in LATENCIES:
        for stat in STATS:
            put(f"{lat}.{stat}", (stats.get(lat) or {}).get(stat), to_ms)
    for stat in STATS:
        put(f"output_inference_speed.{stat}", (stats.get("output_inference_speed") or {}).get(stat))
    return str(agg["scenario"]), int(agg[level_key]), out


def _is_result_file(path: Path) -> bool:
    return path.name != "experiment_metadata.json" and not path.name.startswith("debug_")


def parse_results(
    folder: str | os.PathLike,
    *,
    gpu_count: int = 1,
    expected: list[tuple[str, int]] | None = None,
) -> BenchOutcome:
    """Every run JSON in genai-bench's experiment folder → metrics[scenario][concurrency].

    ok is False when nothing usable was measured: no folder, no result files (debug files
    only: every request of a run failed), unreadable files, or every run all errors.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return BenchOutcome(ok=False, folder=str(folder),
                            reason=f"no genai-bench results folder at {folder}")
    debug = sorted(p.name for p in folder.glob("debug_*.json"))
    metrics: Metrics = {}
    problems: list[str] = []
    files: list[str] = []
    for path in sorted(p for p in folder.glob("*.json") if _is_result_file(p)):
        try:
            data = json.loads(path.read_text())
            scenario, level, values = run_metrics(data, gpu_count)
        except (OSError, ValueError, KeyError, TypeError) as e:
            problems.append(f"{path.name}: unreadable ({type(e).__name__}: {e})")
            continue
        files.append(path.name)
        metrics.setdefault(scenario, {})[level] = values
    missing = [f"{s}@{c}" for s, c in (expected or []) if c not in metrics.get(s, {})]
    outcome = BenchOutcome(ok=True, metrics=metrics, folder=str(folder), files=files,
                           missing=missing)
    if not metrics:
        outcome.ok = False
        why = ["no result files"]
        if debug:
            why.append(f"debug files only ({', '.join(debug)}): no request of a run succeeded")
        outcome.reason = "; ".join(why + problems)
        return outcome
    served = [v for by_c in metrics.values() for v in by_c.values()
              if v.get("num_completed_requests", 1) > 0 and v.get("error_rate", 0.0) < 1.0]
    if not served:
        outcome.ok = False
        outcome.reason = "every request errored in every run"
    elif problems:
        outcome.reason = "; ".join(problems)
    return outcome


# ---------------------------------------------------------------------------- warm-up


def warmup(
    base_url: str,
    exp_or_model: Experiment | str,
    n: int = 2,
    *,
    max_tokens: int = 8,
    timeout_s: float = 120.0,
) -> int:
    """Send `n` small real chat completions before measuring (caches, graphs, lazy init).

    Returns how many succeeded; failures are not raised — the benchmark will show them.
    """
    model = exp_or_model.model.served_name if isinstance(exp_or_model, Experiment) \
        else exp_or_model
    body = json.dumps({
        "model": model, "max_tokens": max_tokens, "temperature": 0.0, "stream": False,
        "messages": [{"role": "user", "content": "Say hello and count to ten."}],
    }).encode()
    ok = 0
    for _ in range(max(int(n), 0)):
        req = urllib.request.Request(
            base_url.rstrip("/") + "/v1/chat/completions", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": "Bearer tuneops"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                resp.read()
                ok += resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return ok
