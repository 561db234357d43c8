"""genai-bench's benchmark machinery, driven one concurrency level at a time (worker side).

This module runs only inside the long-lived worker process (`worker_main`): importing it
imports genai-bench, which monkey-patches the interpreter with gevent. It drives the same
objects genai-bench's own `benchmark` command drives — the trial's argv is parsed by that
command's click parser (every option callback and validation runs as on the command
line), then a locust `Environment`, genai-bench's `DistributedRunner` in local mode, its
`AggregatedMetricsCollector` and `manage_run_time` measure each level, and the collector
writes the run JSON under the same name the CLI gives it. `experiment_metadata.json` is
genai-bench's own `ExperimentMetadata` model. What the worker pays once instead of per
trial: the imports, gevent patching and tokenizer loading. What it skips unless asked
(`keep_artifacts`): the xlsx summary and plots, which tuneops never reads.

Levels are requested one at a time so the runner can stop early or bisect between them.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from genai_bench.auth.unified_factory import UnifiedAuthFactory
from genai_bench.cli.cli import benchmark as _benchmark_command
from genai_bench.cli.utils import get_experiment_path, get_run_params, manage_run_time
from genai_bench.cli.validation import validate_prefix_options, validate_tokenizer
from genai_bench.data.config import DatasetConfig
from genai_bench.data.loaders.factory import DataLoaderFactory
from genai_bench.distributed.runner import DistributedConfig, DistributedRunner
from genai_bench.protocol import ExperimentMetadata
from genai_bench.sampling.base import Sampler
from genai_bench.utils import sanitize_string
from genai_bench.version import __version__ as GENAI_BENCH_VERSION
from greenlet import greenlet
from locust.env import Environment
from tuneops.runner.bench.levels import drain_s

_FILE_LOG_FORMAT = "{levelname:<8} {asctime} - {name}:{funcName} - {message}"
# Backends whose auth is an API key, and the auth factory's name for them (as in the CLI).
_AUTH_BACKEND = {"openai": "openai", "vllm": "openai", "sglang": "openai"}

logger = logging.getLogger("tuneops.bench.worker")


@dataclass
class Trial:
    """One trial's genai-bench state inside the worker, from `begin` to `end`."""

    params: dict[str, Any]
    folder: Path
    environment: Any
    runner: Any
    collector: Any
    log_handler: logging.Handler
    levels_run: int = 0
    drain_s: float = 0.0  # before the next level: let the engine clear what the last left
    scenario: str | None = None
    measured: dict[str, dict[int, Any]] = field(default_factory=dict)  # for the plots


class Driver:
    """Runs trials one after another in this process; caches what does not change."""

    def __init__(self) -> None:
        self._tokenizers: dict[str, Any] = {}
        self.trial: Trial | None = None

    # ------------------------------------------------------------------ one trial

    def begin(self, argv: list[str], log_file: str) -> dict[str, Any]:
        """Parse a trial's genai-bench argv (as for `genai-bench benchmark`), write the
        experiment metadata and set up the load generator; this trial's log goes to
        `log_file`. Returns the results folder."""
        if self.trial is not None:
            self.end(keep_artifacts=False)
        ctx = _benchmark_command.make_context("benchmark", list(argv))
        p = dict(ctx.params)
        if p.get("num_workers"):
            raise ValueError("the worker drives genai-bench in local mode (--num-workers 0)")
        if p["api_backend"] not in _AUTH_BACKEND:
            raise ValueError(f"the worker drives OpenAI-compatible backends "
                             f"({', '.join(sorted(_AUTH_BACKEND))}), not {p['api_backend']}")
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter(_FILE_LOG_FORMAT, style="{"))
        logging.getLogger().addHandler(handler)
        try:
            return self._begin(ctx, p, handler)
        except BaseException:
            logging.getLogger().removeHandler(handler)
            handler.close()
            raise

    def _begin(self, ctx: Any, p: dict[str, Any], handler: logging.Handler) -> dict[str, Any]:
        logger.info("genai-bench %s driven by the tuneops worker (pid %d); options: %s",
                    GENAI_BENCH_VERSION, os.getpid(), p)
        backend = p["api_backend"]
        auth = UnifiedAuthFactory.create_model_auth(
            _AUTH_BACKEND[backend],
            api_key=p.get("model_api_key") or p["api_key"])
        user_class = ctx.obj["user_class"]
        user_class.auth_provider = auth
        user_class.host = p["api_base"]
        user_class.api_backend = backend
        tokenizer = self._tokenizer(p["model_tokenizer"])
        validate_prefix_options(
            prefix_len=p["prefix_len"], prefix_ratio=p["prefix_ratio"], task=p["task"],
            dataset_path=p["dataset_path"], dataset_config=p["dataset_config"],
            traffic_scenario=p["traffic_scenario"])
        dataset_config = (DatasetConfig.from_file(p["dataset_config"]) if p["dataset_config"]
                          else DatasetConfig.from_cli_args(
                              dataset_path=p["dataset_path"],
                              prompt_column=p["dataset_prompt_column"],
                              image_column=p["dataset_image_column"]))
        data = DataLoaderFactory.load_data_for_task(p["task"], dataset_config)
        sampler = Sampler.create(
            task=p["task"], tokenizer=tokenizer, model=p["api_model_name"], data=data,
            additional_request_params=p["additional_request_params"],
            dataset_config=dataset_config, prefix_len=p["prefix_len"],
            prefix_ratio=p["prefix_ratio"])
        scenarios = list(p["traffic_scenario"] or [])
        if not scenarios and (p["dataset_path"] or p["dataset_config"]):
            scenarios = ["dataset"]
        p["traffic_scenario"] = scenarios
        folder = get_experiment_path(
            experiment_folder_name=p["experiment_folder_name"],
            experiment_base_dir=p["experiment_base_dir"], api_backend=backend,
            server_engine=p["server_engine"], server_version=p["server_version"],
            task=p["task"], model=p["model"]).absolute()
        meta = self._metadata(p, auth, folder, list(p["num_concurrency"]))
        (folder / "experiment_metadata.json").write_text(meta.model_dump_json(indent=4))
        environment = Environment(user_classes=[user_class])
        environment.user_classes[0].tasks = [ctx.obj["user_task"]]
        environment.sampler = sampler
        runner = DistributedRunner(
            environment=environment,
            config=DistributedConfig(num_workers=0, log_dir=p["log_dir"]),
            dashboard=None,
        )
        runner.setup()
        self.trial = Trial(params=p, folder=folder, environment=environment, runner=runner,
                           collector=runner.metrics_collector, log_handler=handler)
        return {"folder": str(folder), "scenarios": scenarios,
                "levels": list(p["num_concurrency"])}

    def _metadata(self, p: dict[str, Any], auth: Any, folder: Path,
                  levels: list[int]) -> ExperimentMetadata:
        cmd = ["genai-bench", "benchmark"]
        for key, value in p.items():
            if isinstance(value, (list, tuple)):
                for item in value:
                    cmd += [f"--{key}".replace("_", "-"), str(item)]
            elif value:
                cmd += [f"--{key}".replace("_", "-"), str(value)]
        return ExperimentMetadata(
            cmd=" ".join(cmd), benchmark_version=GENAI_BENCH_VERSION,
            api_backend=p["api_backend"], auth_config=auth.get_config(),
            api_model_name=p["api_model_name"], server_model_tokenizer=p["model_tokenizer"],
            model=p["model"], task=p["task"], num_concurrency=levels,
            batch_size=p["batch_size"], iteration_type=p["iteration_type"],
            traffic_scenario=p["traffic_scenario"], server_engine=p["server_engine"],
            server_version=p["server_version"], server_gpu_type=p["server_gpu_type"],
            server_gpu_count=p["server_gpu_count"],
            max_time_per_run_s=p["max_time_per_run"] * 60,
            max_requests_per_run=p["max_requests_per_run"],
            experiment_folder_name=str(folder),
            additional_request_params=p["additional_request_params"],
            dataset_path=str(p["dataset_path"]), metrics_time_unit=p["metrics_time_unit"],
        )

    def level(self, scenario: str, concurrency: int) -> dict[str, Any]:
        """Measure one scenario × concurrency run; returns the result file written."""
        t = self._current()
        p = t.params
        if scenario != t.scenario:
            t.runner.update_scenario(scenario)
            t.scenario = scenario
        # genai-bench pauses a fixed second after each run "for the server to clear aborted
        # requests"; here only between levels, as long as the last level says (levels.py).
        if t.levels_run:
            gevent.sleep(t.drain_s)
        t.levels_run += 1
        t.drain_s = drain_s(None, None)
        iteration_type = p["iteration_type"]
        _, batch_size, users = get_run_params(iteration_type, concurrency)
        t.runner.update_batch_size(batch_size)
        t.collector.set_run_metadata(concurrency, scenario, p["metrics_refresh_interval"],
                                     iteration_type)
        spawn_rate = p["spawn_rate"] if p["spawn_rate"] is not None else users
        start = time.monotonic()
        t.environment.runner.start(users, spawn_rate=spawn_rate)
        total_run_time = manage_run_time(
            max_time_per_run=p["max_time_per_run"] * 60,
            max_requests_per_run=p["max_requests_per_run"], environment=t.environment)
        t.environment.runner.stop()
        end = time.monotonic()
        sanitized = sanitize_string(scenario)
        try:
            t.collector.aggregate_metrics_data(start, end, p["warmup_ratio"],
                                               p["cooldown_ratio"])
        except ValueError as e:
            debug = t.folder / f"debug_for_run_{sanitized}_{users}.json"
            t.collector.save(str(debug), p["metrics_time_unit"])
            t.collector.clear()
            return {"file": None, "debug_file": str(debug), "error": str(e),
                    "measure_s": end - start}
        name = (f"{sanitized}_{p['task']}_{iteration_type}_{concurrency}_"
                f"time_{total_run_time}s.json")
        t.collector.save(str(t.folder / name), p["metrics_time_unit"])
        agg = t.collector.aggregated_metrics
        t.measured.setdefault(scenario, {})[concurrency] = agg
        t.drain_s = drain_s(agg.stats.ttft.p99, agg.stats.tpot.p99)
        written = bool(t.collector.all_request_metrics)
        t.collector.clear()
        logger.info("run for scenario %s, %s %d finished after %.2f s",
                    scenario, iteration_type, concurrency, end - start)
        return {"file": str(t.folder / name) if written else None, "measure_s": end - start,
                "drain_s": t.drain_s}

    def end(self, keep_artifacts: bool = False, levels: list[int] | None = None
            ) -> dict[str, Any]:
        """Tear the load generator down; with `keep_artifacts`, write genai-bench's xlsx and
        plots as its CLI would. `levels`: the levels actually measured, for the metadata."""
        t = self._current()
        self.trial = None
        try:
            t.runner.cleanup()
            if levels is not None:
                meta_file = t.folder / "experiment_metadata.json"
                meta = ExperimentMetadata.model_validate_json(meta_file.read_text())
                meta.num_concurrency = sorted(set(levels))
                meta_file.write_text(meta.model_dump_json(indent=4))
            if keep_artifacts:
                _write_artifacts(t)
        finally:
            logging.getLogger().removeHandler(t.log_handler)
            t.log_handler.close()
        return {"folder": str(t.folder)}

    # ------------------------------------------------------------------ health

    def stats(self) -> dict[str, Any]:
        """What could leak from one trial into the next, after a garbage collection:
        `tasks` (live gevent greenlets: users, runner loops, spawned handlers; 0 between
        trials), open `sockets`, open `files` (not pipes), gevent's DNS `threadpool` (its
        own bounded pool of idle threads, each with a wake-up pipe) and threads."""
        gc.collect()
        live = [g for g in gc.get_objects() if isinstance(g, greenlet) and not g.dead]
        tasks = [g for g in live if isinstance(g, gevent.Greenlet)]
        targets: dict[str, int] = {}
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            kind = target.split(":")[0] if ":" in target else "file"
            targets[kind] = targets.get(kind, 0) + 1
        pool = gevent.get_hub().threadpool
        return {"tasks": len(tasks), "task_names": sorted({repr(g) for g in tasks})[:10],
                "greenlets": len(live), "sockets": targets.get("socket", 0),
                "files": targets.get("file", 0), "pipes": targets.get("pipe", 0),
                "fds": sum(targets.values()), "threadpool": pool.size,
                "threadpool_max": pool.maxsize, "threads": threading.active_count(),
                "pid": os.getpid(), "tokenizers": len(self._tokenizers)}

    # ------------------------------------------------------------------ helpers

    def _current(self) -> Trial:
        if self.trial is None:
            raise RuntimeError("no trial begun")
        return self.trial

    def _tokenizer(self, name: str) -> Any:
        """Loaded once per worker: the same folder or hub id gives the same tokenizer."""
        if name not in self._tokenizers:
            self._tokenizers[name] = validate_tokenizer(name)
        return self._tokenizers[name]


def _write_artifacts(t: Trial) -> None:
    """genai-bench's xlsx summary and plots, exactly as its CLI writes them."""
    from genai_bench.analysis.excel_report import create_workbook
    from genai_bench.analysis.experiment_loader import load_one_experiment
    from genai_bench.analysis.flexible_plot_report import plot_experiment_data_flexible
    from genai_bench.analysis.plot_config import PlotConfigManager
    from genai_bench.analysis.plot_report import (
        plot_single_scenario_inference_speed_vs_throughput,
    )

    p = t.params
    iteration_type = p["iteration_type"]
    folder = str(t.folder)
    for scenario, by_level in t.measured.items():
        data = {level: {"aggregated_metrics": agg} for level, agg in by_level.items()}
        plot_single_scenario_inference_speed_vs_throughput(
            scenario, folder, p["task"], {"data": data, iteration_type: list(by_level)},
            iteration_type)
    metadata, run_data = load_one_experiment(folder)
    create_workbook(metadata, run_data, os.path.join(folder, f"{t.folder.name}_summary.xlsx"),
                    percentile="mean", metrics_time_unit=p["metrics_time_unit"], task=p["task"])
    unit = p["metrics_time_unit"]
    tts = PlotConfigManager.load_preset("2x4_tts", unit) if p["task"] == "text-to-speech" \
        else None
    plot_experiment_data_flexible([(metadata, run_data)], group_key="traffic_scenario",
                                  experiment_folder=folder, plot_config=tts,
                                  metrics_time_unit=unit)


def configure_logging() -> None:
    """The worker's own log (its stderr); each trial adds its genai_bench.log."""
    level = os.getenv("GENAI_BENCH_LOGGING_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FILE_LOG_FORMAT, style="{"))
    logging.basicConfig(level=level if level in logging._nameToLevel else "INFO",
                        handlers=[handler], force=True)
