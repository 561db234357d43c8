"""Engine telemetry: the engines' real metric names mapped, summaries per measurement and
level, the simulator's endpoint scraped while it serves, and hostile endpoints survived."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from tuneops.runner.telemetry import scrape, summary
from tuneops.runner.telemetry.series import mapping, read

from tests.sim_helpers import SimServer, make_catalog, make_tokenizer, sim_env
from tuneops.registry import engines

# llama.cpp's /metrics as xllamacpp 2026.10.11549 serves it (captured from the launcher)
LLAMACPP = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total {prompt}
# TYPE llamacpp:prompt_tokens_cached_total counter
llamacpp:prompt_tokens_cached_total {cached}
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total {predicted}
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing {running}
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 0
"""

# vLLM v1 with two engine cores (PrometheusStatLogger's labelnames: model_name, engine)
VLLM = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m",engine="0"} 3
vllm:num_requests_running{model_name="m",engine="1"} 4
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.5
vllm:kv_cache_usage_perc{model_name="m",engine="1"} 0.9
# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{model_name="m",engine="0"} 7
vllm:num_preemptions_total{model_name="m",engine="1"} 5
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{model_name="m",engine="0"} 10
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{model_name="m",engine="0"} 40
"""


def _map(engine):
    return mapping(engines()[engine].metrics, engine)


def test_every_engine_maps_its_real_names_and_says_what_it_lacks():
    for name in ("sglang", "vllm", "sim"):
        m = _map(name)
        assert m.not_exposed() == {}, name  # all six series
    assert _map("sim").series == _map("sglang").series  # the simulator serves SGLang's names
    ll = _map("llamacpp")
    assert ll.not_exposed() == {"kv_cache_usage": "not exposed by llama.cpp",
                                "preemptions": "not exposed by llama.cpp"}
    assert {s.sample for s in ll.series} >= {"llamacpp:requests_processing",
                                             "llamacpp:tokens_predicted_total"}


def test_label_sets_combine_as_the_series_says():
    raw = read(VLLM, _map("vllm"))
    assert raw["vllm:num_requests_running"] == 7  # requests add up across engine cores
    assert raw["vllm:kv_cache_usage_perc"] == 0.9  # usage: the fullest core
    assert raw["vllm:num_preemptions_total"] == 12
    assert "vllm:generation_tokens_total" not in raw  # absent, never a zero


def _scrapes(texts, m, t0=1000.0, step=1.0):
    s = scrape.Scrapes(url="x", interval_s=step, started=t0)
    s.samples = [(t0 + i * step, read(t, m)) for i, t in enumerate(texts)]
    return s


def test_llamacpp_counters_become_rates_ratios_and_levels():
    m = _map("llamacpp")
    texts = [LLAMACPP.format(prompt=p, cached=c, predicted=g, running=r)
             for p, c, g, r in [(0, 0, 0, 0), (30, 10, 100, 2), (60, 10, 300, 4),
                                (5, 0, 20, 1)]]  # the last: the counters restarted
    s = _scrapes(texts, m)
    out = summary.summarize(s, m, {"D(100,10)": {2: (1000.5, 1002.5)}})
    gen = out["series"]["generation_throughput"]
    assert gen["max"] == 200.0 and gen["n"] == 3  # 100, 200 tok/s, then 20 after the reset
    # cache: 10 hits of 40 looked up, then 0 of 30, then 0 of 5: the ratio of the totals
    assert out["series"]["cache_hit_rate"]["mean"] == pytest.approx(10 / 75, abs=1e-6)
    assert out["series"]["running"] == {"mean": 1.75, "max": 4.0, "p95": pytest.approx(3.7),
                                        "n": 4}
    lvl = out["levels"]["D(100,10)"]["2"]
    assert lvl["running"]["max"] == 4.0 and lvl["running"]["n"] == 2
    assert out["not_exposed"]["kv_cache_usage"] == "not exposed by llama.cpp"
    assert out["timeline"]["running"][0] == [0.0, 0.0]


def test_counter_total_counts_preemptions():
    m = _map("vllm")
    texts = [VLLM.replace("} 7", f"}} {n}") for n in (7, 9, 20)]
    out = summary.summarize(_scrapes(texts, m), m)
    assert out["series"]["preemptions"]["total"] == 13.0


def test_a_mapped_series_the_endpoint_never_serves_is_not_exposed():
    m = _map("vllm")
    out = summary.summarize(_scrapes([VLLM, VLLM], m), m)
    assert "generation_throughput" not in out["series"]
    assert out["not_exposed"]["generation_throughput"].startswith("not exposed by vLLM")


class _Hostile(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_GET(self):  # noqa: N802
        body = self.bodies.pop(0) if self.bodies else b"# nothing\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_hostile_endpoints_are_counted_never_raised():
    m = _map("sglang")
    _Hostile.bodies = [
        b"sglang:num_running_reqs{ 12\n",  # the parser refuses it
        b"sglang:num_running_reqs NaN\nsglang:token_usage +Inf\n",  # not finite: dropped
        b"x" * (scrape.MAX_EXPOSITION_BYTES + 10),  # bigger than any engine's
        b"sglang:num_running_reqs 3\n",
    ]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sc = scrape.Scraper(f"http://127.0.0.1:{srv.server_port}/metrics", m)
        for _ in range(4):
            sc.scrape_once()
        dead = scrape.Scraper("http://127.0.0.1:9/metrics", m)  # nothing listens there
        dead.scrape_once()
    finally:
        srv.shutdown()
    r = sc.result
    assert r.errors == 2 and "larger than" in r.last_error
    assert [raw for _, raw in r.samples] == [{}, {"sglang:num_running_reqs": 3.0}]
    assert dead.result.errors == 1 and not dead.result.samples
    out = summary.summarize(r, m)
    assert out["series"]["running"]["max"] == 3.0 and out["errors"] == 2


def test_launcher_always_serves_metrics():
    from tuneops.engines.llamacpp.launcher import build_params
    params = build_params(["--model", "m.gguf", "--host", "127.0.0.1", "--port", "1"])
    assert params.endpoint_metrics is True


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim")
    env = sim_env(make_catalog(tmp / "sglang.json"), make_tokenizer(tmp / "tok"))
    # a small KV pool so that 16 long requests fill it and force retractions
    with SimServer(["--model-path", "meta-llama/Llama-3.2-1B-Instruct", "--served-model-name",
                    "tiny", "--seed", "3", "--gpu-type", "L40S", "--sim-model", "Llama-3.1-8B",
                    "--mem-fraction-static", "0.5"], env, tmp / "sim.log") as srv:
        srv.wait_healthy()
        yield srv


def _complete(base, n):
    body = json.dumps({"model": "tiny", "prompt": "word " * 2000, "max_tokens": n,
                       "ignore_eos": True}).encode()
    req = urllib.request.Request(base + "/v1/completions", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status


def test_scraping_the_simulator_while_it_serves(sim):
    m = _map("sim")
    with scrape.Scraper(sim.base + "/metrics", m, interval_s=0.2) as sc:
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(_complete, sim.base, 400) for _ in range(16)]
            assert all(f.result() == 200 for f in futures)
    out = summary.summarize(sc.result, m)
    s = out["series"]
    assert out["errors"] == 0 and out["scrapes"] >= 3
    assert set(s) == set(m.not_exposed()) | {x.name for x in m.series}
    assert s["running"]["max"] >= 2 and 0 < s["kv_cache_usage"]["max"] <= 1
    assert s["generation_throughput"]["max"] > 0
    assert s["preemptions"]["total"] >= 0 and s["cache_hit_rate"]["max"] == 0.0


def test_the_scraping_thread_runs_on_the_load_generators_cores_and_the_runner_stays_free():
    """A CPU engine's core is never the scraper's: the thread pins itself to the cores it is
    given (the trial's load-generator set), and only itself."""
    import os

    from tests.helpers.polling import wait_until

    cores = sorted(os.sched_getaffinity(0))
    loadgen = {cores[-1]}
    seen: list[set[int]] = []

    class Recording(scrape.Scraper):
        def scrape_once(self) -> None:
            seen.append(set(os.sched_getaffinity(0)))  # the scraping thread's own set
            super().scrape_once()

    with Recording("http://127.0.0.1:9/metrics", _map("llamacpp"), interval_s=0.01,
                   cpus=tuple(loadgen)) as sc:
        wait_until(lambda: len(seen) >= 2, what="two scrapes")
    assert seen[0] == loadgen and seen[1] == loadgen
    assert set(os.sched_getaffinity(0)) == set(cores)  # the runner's other threads: unchanged
    assert seen[-1] == set(cores)  # the closing scrape runs on the caller's thread
    assert sc.result.errors >= 2
