"""The OME backend's measuring side: a trial's BenchmarkJob in the cluster.

``benchmark`` applies the trial's rendered BenchmarkJob (owned like its InferenceService),
waits for OME's ``status.state`` Completed or Failed, reads genai-bench's files back from
``outputLocation`` (results.py: a reader pod for ``pvc://``, boto3 for ``s3://``), parses
them with the parser local runs use and deletes the job. When the runner must decide
between levels (early stop, goodput bisection) each level is a BenchmarkJob of its own and
runner/bench/levels.py's walk picks the next from the last one's result. With
``benchmarkIn: runner`` it measures here instead. A mixin of ``OmeBackend``, which
provides the API calls it uses (``_call``, ``objects``, ``core``, ``_owned``, ``_pod_log``)
and its settings.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from tuneops.deployments.common import health
from tuneops.deployments.common.backend import ConfigFailure, Deployment, InfraFailure, TrialFailure
from tuneops.deployments.ome import results as ome_results

from tuneops import secrets

GROUP, VERSION = "ome.io", "v1beta1"
BJ = "benchmarkjobs"
BENCH_POD_LABEL = "benchmark"  # OME labels a BenchmarkJob's Job and pods benchmark=<name>
READER_LABEL = "io.tuneops.reader"  # pods that read results back from a claim
BENCH_LOG = "genai-bench.log"
SCHEDULE_SLACK_S = 600.0  # a BenchmarkJob's pod may wait for a node and pull its image


# genai-bench logs every CLI parameter at start, credentials included
# (genai_bench/cli/cli.py:176-177, 0.0.5: logger.info(f"{key}: {value}")); in the cluster
# those come from the pod's Secrets, which this runner never sees to register for masking.
_CREDENTIAL_PARAM = re.compile(
    r"(?im)^(.*\b\w*(?:secret|token|password|api_key|access_key)\w*: )(?!None$).+$")


def _redact_params(text: str) -> str:
    return _CREDENTIAL_PARAM.sub(lambda m: m.group(1) + secrets.MASK, text)


def by_level(exp: Any) -> bool:
    """Whether the runner must decide between levels (one BenchmarkJob each): a goodput
    bisection, or early stop that could skip a level (more than one level and an SLO over
    requests). Otherwise one job measures every level, as it always did: one pod, one
    genai-bench start."""
    b = exp.benchmark
    if b.concurrency_search == "bisect":
        return True
    return bool(b.early_stop and len(b.concurrency) > 1
                and any(slo.can_stop_early for slo in exp.slos))


class _Cancelled(Exception):
    """The run was cancelled while a level's BenchmarkJob ran."""


class ClusterBenchmarks:
    """Measuring a ready trial where it runs."""

    def benchmark(self, deployment: Deployment, exp: Any, out_dir: Path, *, genai_bench: Any,
                  cancel: threading.Event | None = None) -> Any:
        """Measure the ready trial: its BenchmarkJob in the cluster, or genai-bench here.

        ``genai_bench`` is the runner's genai-bench toolkit (tuneops.runner.bench: measure
        here, parse results, time limits), handed down by the runner so this backend reads
        genai-bench's files as the runner does without importing the layer above it.
        Returns its BenchOutcome."""
        bench = genai_bench
        handle = deployment.handle
        if self.benchmark_in != "cluster":
            return bench.measure_here(deployment, exp, out_dir, cancel=cancel)
        if handle.benchmark is None:
            raise ConfigFailure(f"trial {deployment.launch.trial_id} has no rendered "
                                "BenchmarkJob to measure it in the cluster")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        log = out_dir / BENCH_LOG
        log.unlink(missing_ok=True)  # a retried attempt's folder: only this measurement's log
        if not handle.warmed and exp.benchmark.warmup_requests > 0:
            self._warm_up(handle, exp, out_dir, cancel)
            handle.warmed = True
        t0 = time.monotonic()
        if by_level(exp):
            outcome = self._measure_by_level(deployment, exp, out_dir, bench, cancel)
        else:
            outcome = self._measure_at_once(deployment, exp, out_dir, bench, cancel)
        outcome.log_path = str(log)
        outcome.duration_s = round(time.monotonic() - t0, 3)
        return outcome

    def _measure_at_once(self, deployment: Deployment, exp: Any, out_dir: Path, bench: Any,
                         cancel: threading.Event | None) -> Any:
        """Every scenario and level in one BenchmarkJob, at a location of its own (no
        earlier repeat, attempt or run left anything there)."""
        job = ome_results.for_measurement(deployment.handle.benchmark,
                                          ome_results.measurement_key(out_dir))
        folder = out_dir / bench.RESULTS_FOLDER
        state, message = self._run_job(deployment, job, folder, out_dir / BENCH_LOG,
                                       bench.timeout_for(exp) + SCHEDULE_SLACK_S, cancel)
        if state == "Cancelled":
            return bench.BenchOutcome(ok=False, cancelled=True, reason="benchmark cancelled")
        expected = [(s, int(c)) for s in exp.benchmark.traffic_scenarios
                    for c in exp.benchmark.concurrency]
        outcome = bench.parse_results(folder, gpu_count=max(deployment.launch.gpu_count, 1),
                                      expected=expected, request_slos=exp.request_slos)
        if state == "Failed" and (not outcome.ok or outcome.missing):
            namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
            detail = outcome.reason or ("missing runs: " + ", ".join(outcome.missing)
                                        if outcome.missing else "")
            tail = bench.log_tail(out_dir / BENCH_LOG)
            outcome.ok = False
            outcome.reason = (f"BenchmarkJob {namespace}/{name} failed: {message or 'no message'}"
                              + (f"; {detail}" if detail else "") + (f"\n{tail}" if tail else ""))
        return outcome

    def _measure_by_level(self, deployment: Deployment, exp: Any, out_dir: Path, bench: Any,
                          cancel: threading.Event | None) -> Any:
        """One BenchmarkJob per level, each at a location of its own, the levels decided
        here by the runner's own walk (runner/bench/levels.py: early stop, goodput
        bisection) from the result each job wrote, as the local worker decides them. A
        BenchmarkJob measures a fixed list of levels and cannot stop or bisect itself;
        docs/ome.md says why this, and not tuneops' worker in the pod."""
        gpu_count = max(deployment.launch.gpu_count, 1)
        folder = out_dir / bench.RESULTS_FOLDER
        scenarios = list(exp.benchmark.traffic_scenarios)
        runs: dict[tuple[str, int], dict] = {}
        errors: list[str] = []
        # one run at its time cap, genai-bench's start, and the pod's wait for a node
        level_s = (exp.benchmark.max_time_per_run_min * 60.0 + bench.RUN_SLACK_S
                   + bench.FIXED_SLACK_S + SCHEDULE_SLACK_S)

        def measure(scenario: str, level: int) -> dict[str, float] | None:
            part = f"s{scenarios.index(scenario)}-c{level}"
            job = ome_results.for_measurement(deployment.handle.benchmark,
                                              ome_results.measurement_key(out_dir, part))
            job["spec"]["trafficScenarios"] = [scenario]
            job["spec"]["numConcurrency"] = [level]
            here = out_dir / "levels" / part
            state, message = self._run_job(deployment, job, here, out_dir / BENCH_LOG,
                                           level_s, cancel)
            if state == "Cancelled":
                raise _Cancelled
            got = bench.parse_results(here, gpu_count=gpu_count, expected=[(scenario, level)],
                                      request_slos=exp.request_slos)
            if not got.ok or got.missing:
                errors.append(f"{scenario}@{level}: " + (
                    f"BenchmarkJob failed: {message or 'no message'}; " if state == "Failed"
                    else "") + (got.reason or "not measured"))
                return None
            folder.mkdir(parents=True, exist_ok=True)
            for name in got.files:  # genai-bench names each run's file by its scenario and level
                shutil.copy2(here / name, folder / name)
                runs[scenario, level] = json.loads((here / name).read_text())
            return got.metrics[scenario][level]

        walk = bench.levels
        try:
            measured, not_run, max_ok = walk.walk(
                exp, measure, lambda s, c: walk.lost_slos(exp.slos, runs[s, c]))
        except _Cancelled:
            return bench.BenchOutcome(ok=False, cancelled=True, reason="benchmark cancelled")
        expected = [(s, c) for s, by_c in measured.items() for c in by_c]
        outcome = bench.parse_results(folder, gpu_count=gpu_count, expected=expected,
                                      request_slos=exp.request_slos)
        walk.annotate(outcome, not_run, max_ok)
        if errors and (not outcome.ok or outcome.missing):
            outcome.ok = False
            outcome.reason = "; ".join(filter(None, [*errors, outcome.reason]))
        return outcome

    def _run_job(self, deployment: Deployment, job: dict, folder: Path, log: Path,
                 timeout_s: float, cancel: threading.Event | None) -> tuple[str, str]:
        """Apply one measurement's BenchmarkJob, wait for OME's verdict, append its pods'
        log to ``log``, bring its files into ``folder`` and delete it: (state, message)."""
        handle = deployment.handle
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            self._create_benchmark(job)
            handle.bench_applied = True
            state, message = self._wait_benchmark(namespace, name, timeout_s, cancel)
            self._save_benchmark_log(namespace, name, log)
            if state == "Cancelled":
                return state, message
            try:
                self._fetch_results(deployment, job, folder)
                ome_results.scrub_credentials(folder, secrets.MASK)
            except TrialFailure:
                if state != "Failed":
                    raise
                # a failed job's partial results are a bonus; its failure is the outcome
        finally:
            self._delete_benchmark(namespace, name)
            handle.bench_applied = False
        return state, message

    def _warm_up(self, handle: Any, exp: Any, out_dir: Path,
                 cancel: threading.Event | None) -> None:
        """``benchmark.warmupRequests`` sent in the cluster before the engine's first
        measurement, as the local path sends them before measuring: a BenchmarkJob of its
        own (first scenario, concurrency 1, that many requests, a location of its own), on
        the same network path as the measurement; its results are not read. A warm-up
        that fails is noted in the log and the measurement goes ahead (it fails itself if
        the engine cannot serve)."""
        job = ome_results.for_measurement(handle.benchmark, ome_results.measurement_key(
            out_dir.parent / f"warmup-{out_dir.name}"))
        spec = job["spec"]
        spec["trafficScenarios"] = spec["trafficScenarios"][:1]
        spec["numConcurrency"] = [1]
        spec["maxRequestsPerIteration"] = int(exp.benchmark.warmup_requests)
        spec["maxTimePerIteration"] = 1
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            self._create_benchmark(job)
            handle.bench_applied = True
            state, message = self._wait_benchmark(namespace, name, SCHEDULE_SLACK_S + 60,
                                                  cancel)
        finally:
            self._delete_benchmark(namespace, name)
            handle.bench_applied = False
        if state == "Failed":
            with (out_dir / BENCH_LOG).open("a") as log:
                log.write(f"warm-up BenchmarkJob {namespace}/{name} failed: {message}\n")

    def _create_benchmark(self, job: dict) -> None:
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        created = self._call(f"creating BenchmarkJob {namespace}/{name}",
                             self.objects.create_namespaced_custom_object,
                             GROUP, VERSION, namespace, BJ, job, ok=(409,))
        if created == 409:  # an earlier attempt's job: measure afresh
            self._delete_benchmark(namespace, name)
            self._call(f"creating BenchmarkJob {namespace}/{name}",
                       self.objects.create_namespaced_custom_object,
                       GROUP, VERSION, namespace, BJ, job)

    def _get_benchmark(self, namespace: str, name: str) -> dict | None:
        obj = self._call(f"reading BenchmarkJob {namespace}/{name}",
                         self.objects.get_namespaced_custom_object,
                         GROUP, VERSION, namespace, BJ, name, ok=(404,))
        return None if obj == 404 else obj

    def _wait_benchmark(self, namespace: str, name: str, timeout_s: float,
                        cancel: threading.Event | None) -> tuple[str, str]:
        """Poll OME's status.state until Completed or Failed: (state, failureMessage)."""
        deadline = time.monotonic() + timeout_s
        while True:
            obj = self._get_benchmark(namespace, name)
            if obj is None:
                raise InfraFailure(f"BenchmarkJob {namespace}/{name} vanished")
            status = obj.get("status") or {}
            if status.get("state") in ("Completed", "Failed"):
                return status["state"], status.get("failureMessage") or ""
            if time.monotonic() >= deadline:
                raise InfraFailure(f"BenchmarkJob {namespace}/{name} not finished within "
                                   f"{timeout_s:.0f}s (state {status.get('state') or 'none'})")
            if cancel is not None and cancel.wait(self.poll_s):
                return "Cancelled", ""
            if cancel is None:
                time.sleep(self.poll_s)

    def _save_benchmark_log(self, namespace: str, name: str, path: Path) -> None:
        """genai-bench's output, from the pods OME labels benchmark=<name> (best effort),
        added to ``path``."""
        try:
            found = self._call(f"listing pods of BenchmarkJob {name}",
                               self.core.list_namespaced_pod, namespace,
                               label_selector=f"{BENCH_POD_LABEL}={name}")
        except TrialFailure:
            return
        pods = sorted((p for p in (found.items if found else [])
                       if (p.metadata.labels or {}).get(BENCH_POD_LABEL) == name),
                      key=lambda p: p.metadata.name)
        text = ""
        for pod in pods:
            try:
                text += self._pod_log(namespace, pod.metadata.name, container=None)
            except TrialFailure:
                continue
        if text:  # appended: a measurement by level runs one job after another
            with path.open("a") as log:
                log.write(secrets.redact(_redact_params(text)))

    def _fetch_results(self, deployment: Deployment, job: dict, folder: Path) -> list[str]:
        spec = job["spec"]
        loc = ome_results.location(spec["outputLocation"]["storageUri"],
                                   spec.get("resultFolderName"))
        if loc.scheme == "s3":
            return ome_results.download_s3(loc, folder)
        return self._read_claim(deployment, job, loc, folder)

    def _read_claim(self, deployment: Deployment, job: dict, loc: ome_results.Location,
                    folder: Path) -> list[str]:
        """Run the reader pod on the claim, unpack what it printed, delete it."""
        namespace = loc.namespace or job["metadata"]["namespace"]
        launch = deployment.launch
        name = f"{job['metadata']['name'][:48]}-read-{uuid.uuid4().hex[:6]}"
        owned = self._owned({"metadata": {"namespace": namespace}}, launch)["metadata"]
        pod = ome_results.reader_pod(
            name, namespace, loc, self.reader_image,
            {**owned["labels"], READER_LABEL: "true"}, owned["annotations"])
        self._call(f"creating result reader pod {namespace}/{name}",
                   self.core.create_namespaced_pod, namespace, pod)
        try:
            phase = ome_results.wait_pod_done(
                lambda: self._call(f"reading pod {name}", self.core.read_namespaced_pod,
                                   name, namespace),
                timeout_s=max(self.grace_s, 120), poll_s=min(self.poll_s, 1.0))
            text = self._pod_log(namespace, name, container=None)
            if phase != "Succeeded":
                raise InfraFailure(f"result reader pod {name} failed reading "
                                   f"pvc://{loc.container}/{loc.path}: {health.tail(text, 5)}")
            return ome_results.decode_log(text, folder)
        finally:
            self._call(f"deleting pod {name}", self.core.delete_namespaced_pod, name,
                       namespace, ok=(404,))

    def _delete_benchmark(self, namespace: str, name: str) -> None:
        self._call(f"deleting BenchmarkJob {namespace}/{name}",
                   self.objects.delete_namespaced_custom_object,
                   GROUP, VERSION, namespace, BJ, name,
                   propagation_policy="Foreground", ok=(404,))
        deadline = time.monotonic() + self.grace_s
        while self._get_benchmark(namespace, name) is not None and time.monotonic() < deadline:
            time.sleep(0.2)

