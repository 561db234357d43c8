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

from tuneops.runner.bench import levels
from tuneops.runner.bench.command import (
    FIXED_SLACK_S,
    GPU_TYPES,
    LOG_FILE,
    RESULTS_FOLDER,
    RUN_SLACK_S,
    SERVER_ENGINES,
    api_backend,
    bench_env,
    build_command,
    genai_bench_executable,
    gpu_type_flag,
    local_path,
    request_params,
    resolve_tokenizer,
    server_engine_flag,
    timeout_for,
)
from tuneops.runner.bench.measure import measure_here
from tuneops.runner.bench.parse import BenchOutcome, parse_results, run_metrics, run_records
from tuneops.runner.bench.process import BenchProcess, log_tail, run, run_benchmark
from tuneops.runner.bench.warmup import warmup
from tuneops.runner.bench.worker import WorkerPool

__all__ = [
    "FIXED_SLACK_S", "GPU_TYPES", "LOG_FILE", "RESULTS_FOLDER", "RUN_SLACK_S", "SERVER_ENGINES",
    "BenchOutcome", "BenchProcess", "WorkerPool", "api_backend", "bench_env", "build_command",
    "genai_bench_executable", "gpu_type_flag", "levels", "local_path", "log_tail", "measure_here",
    "parse_results",
    "request_params", "resolve_tokenizer", "run", "run_benchmark", "run_metrics", "run_records",
    "server_engine_flag", "timeout_for", "warmup",
]
