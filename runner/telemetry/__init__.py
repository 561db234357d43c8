"""See inside the engine while it is measured.

While genai-bench runs, a background thread (`scrape.Scraper`) reads the engine's
Prometheus endpoint at a fixed interval and parses it with prometheus_client's parser
(`series.read`), keeping the tuneops series that `schemas/engines.yaml` maps the engine's
names to, plus the GPUs' utilization, memory and power where NVML can read them
(`nvml.py`). After the run, `summary.summarize` turns the samples into one summary per
measurement: per series mean, max and p95 (counters also their total), over the whole run
and per scenario × level, and a thinned timeline for the HTML report. `explain.py` reads
the summaries back to say what saturated.
"""
