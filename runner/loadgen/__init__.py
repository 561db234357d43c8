"""Load generators behind one interface (registry.py): genai-bench for closed-loop
concurrency (runner/bench), NVIDIA AIPerf for open-loop request rates (aiperf.py, rate.py,
capacity.py, in its own venv: venv.py). docs/architecture.md says why AIPerf."""
