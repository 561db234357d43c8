"""Time plan + render + CRD validation (+ writing) for a 5,000-trial experiment.

    python scripts/bench_render.py [--out-base DIR]   (make bench)

Prints wall and CPU seconds; writing 10,000 small files is bound by the file system,
so it is timed separately (and is fast on tmpfs, slow on some VM disks).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from tuneops.deployments.ome import crds
from tuneops.renderers.render import render_experiment, render_tree

from tuneops import spec, yamlio

ROOT = Path(__file__).resolve().parents[1]


def big_experiment(example: str, mode: str) -> spec.Experiment:
    """An example widened to 10 x 10 x 10 x 5 = 5,000 grid points."""
    doc = copy.deepcopy(yamlio.to_plain(yamlio.load(ROOT / "experiments" / "examples" / example)))
    doc["deployment"]["mode"] = mode
    doc["parameters"] = {
        "mem-fraction-static": [round(0.5 + 0.04 * i, 2) for i in range(10)],
        "max-running-requests": [16 * (i + 1) for i in range(10)],
        "chunked-prefill-size": [1024 * (i + 1) for i in range(10)],
        "schedule-policy": ["lpm", "random", "fcfs", "dfs-weight", "lof"],
    }
    doc["constraints"] = []
    doc["search"] = {"method": "grid"}
    return spec.from_document(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-base", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    if crds.DEFAULT_CRD_DIR.is_dir():
        crds.from_dir(crds.DEFAULT_CRD_DIR).validator("InferenceService")  # fill the disk cache
    for example, mode in (("sglang-ome.yaml", "ome"), ("sglang-docker.yaml", "docker")):
        exp = big_experiment(example, mode)
        w0, c0 = time.perf_counter(), time.process_time()
        files, checked, _ = render_tree(exp)
        w1, c1 = time.perf_counter(), time.process_time()
        with tempfile.TemporaryDirectory(dir=args.out_base) as out:
            summary = render_experiment(exp, Path(out))
            w2, c2 = time.perf_counter(), time.process_time()
        print(
            f"{mode}: {summary.trials} trials, {len(files)} files, {checked} manifests validated"
            f" | plan+render+validate in memory: {w1 - w0:.2f}s wall, {c1 - c0:.2f}s cpu"
            f" | render_experiment incl. writing to {out}: {w2 - w1:.2f}s wall,"
            f" {c2 - c1:.2f}s cpu"
        )


if __name__ == "__main__":
    main()
