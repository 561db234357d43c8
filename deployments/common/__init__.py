"""What every deployment mode shares, below the modes: the backend contract
(``backend.py``: start / wait healthy / logs / stop, and the two failure classes), health
waiting (``health.py``), port reservation and the private runtime dir (``ports.py``), who
started an engine (``owners.py``), CPU sets and pools (``cpus.py``, ``cpu_pool.py``), the
GPU pool (``gpus.py``) and atomic file writes (``fsutil.py``).

It imports no mode and nothing of the runner: modes build on it, and the runner
(orchestration) uses the same pools and the same contract to drive any mode.
"""
