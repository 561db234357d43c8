"""Refresh the OME CRDs vendored in schemas/crds/ome from a checkout of OME.

    git clone https://github.com/sgl-project/ome /tmp/ome   # at the commit you want
    python scripts/vendor_ome_crds.py /tmp/ome              # (make crds OME=/tmp/ome)

tuneops validates every rendered OME manifest against these files, so they ship with the
package: a clone, a CI runner or an installed wheel needs no OME checkout and no cluster.
SOURCE.json beside them records the OME commit they were taken from and their hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import git

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "schemas" / "crds" / "ome"
# Kind -> file in OME's config/crd/full (controller-gen's output).
KINDS = {
    "InferenceService": "ome.io_inferenceservices.yaml",
    "BenchmarkJob": "ome.io_benchmarkjobs.yaml",
    "ClusterServingRuntime": "ome.io_clusterservingruntimes.yaml",
    "ServingRuntime": "ome.io_servingruntimes.yaml",
    "ClusterBaseModel": "ome.io_clusterbasemodels.yaml",
    "BaseModel": "ome.io_basemodels.yaml",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ome_checkout", type=Path, help="a git checkout of sgl-project/ome")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    full = args.ome_checkout / "config" / "crd" / "full"
    missing = [f for f in KINDS.values() if not (full / f).is_file()]
    if missing:
        print(f"{full}: missing {', '.join(missing)} (is this an OME checkout?)", file=sys.stderr)
        return 2
    repo = git.Repo(args.ome_checkout)
    args.out.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind, name in KINDS.items():
        target = args.out / f"{kind}.crd.yaml"
        shutil.copyfile(full / name, target)
        files[target.name] = {"from": f"config/crd/full/{name}", "sha256": sha256(target)}
    source = {
        "repository": "https://github.com/sgl-project/ome",
        "commit": repo.head.commit.hexsha,
        "describe": repo.git.describe("--tags", "--always"),
        "files": files,
    }
    (args.out / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")
    print(f"{len(files)} CRDs from OME {source['describe']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
