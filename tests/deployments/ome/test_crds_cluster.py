"""`--crd-dir cluster`: OME's CRDs read from a live API server with the real `kubernetes` client.

The API server is kmock's KubernetesEmulator (an in-memory Kubernetes API over real HTTP on
127.0.0.1) preloaded with the CRD files vendored in schemas/crds/ome; a kubeconfig points at it. The
client, the kubeconfig loading and crds.py run unchanged: nothing in them is replaced.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes  # noqa: F401 - loaded before any KUBECONFIG is set, as in a long-lived process
import pytest
import yaml
from tuneops.deployments.ome import crds
from tuneops.deployments.ome import render as ome
from tuneops.renderers.render import render_tree

from tests.kube_helpers import CRD_RESOURCE, ApiServer, running_api_server, write_kubeconfig
from tuneops.errors import UserError
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "experiments" / "examples" / "sglang-ome.yaml"
CRD_DIR = crds.DEFAULT_CRD_DIR
# What rendering sglang-ome validates: the shared runtime and model, each trial's service and job.
SERVED = ("InferenceService", "BenchmarkJob", "ClusterServingRuntime", "ClusterBaseModel")

@pytest.fixture(scope="module")
def api_server() -> Iterator[ApiServer]:
    docs = []
    for kind in SERVED:
        text = (CRD_DIR / f"{kind}.crd.yaml").read_text()
        docs.append(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    with running_api_server(docs) as server:
        yield server


@pytest.fixture
def kubeconfig(api_server, tmp_path, monkeypatch) -> Path:
    # Set after the kubernetes client was imported: crds.py must read it at call time.
    path = write_kubeconfig(tmp_path / "kubeconfig", api_server.url)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def test_cluster_schemas_are_the_crd_files_schemas(api_server, kubeconfig):
    cluster = crds.crd_source(crds.CLUSTER)
    files = crds.from_dir(CRD_DIR)
    assert cluster.source == "cluster:current-context"
    before = len(api_server.crd_reads())
    for kind in SERVED:
        assert cluster.fetch(kind) == files.fetch(kind), kind
    reads = api_server.crd_reads()[before:]
    assert reads == [
        f"/apis/{CRD_RESOURCE}/{kind.lower()}s.ome.io" for kind in SERVED
    ]


def test_rendered_sglang_ome_manifests_are_valid_against_the_cluster(api_server, kubeconfig):
    exp = load_experiment(EXAMPLE)
    files, checked, source = render_tree(exp, crd_dir=crds.CLUSTER)
    trials = len(make_plan(exp).trials)
    manifests = [name for name in files if name.endswith(".yaml")]
    assert checked == len(manifests) > 2 * trials  # every manifest: each trial's service and job
    assert source.startswith("cluster:")
    assert any(name.endswith("/inferenceservice.yaml") for name in files)


def test_broken_manifests_fail_against_the_cluster(api_server, kubeconfig):
    exp = load_experiment(EXAMPLE)
    trial = make_plan(exp).trials[0]
    schemas = crds.from_cluster()
    good = ome.trial_manifests(exp, trial)
    service, job = good["inferenceservice.yaml"], good["benchmarkjob.yaml"]
    assert schemas.errors(service) == [] and schemas.errors(job) == []

    bad_service = copy.deepcopy(service)
    bad_service["spec"]["engine"]["minReplicas"] = "two"
    bad_service["spec"]["modle"] = bad_service["spec"].pop("model")
    found = schemas.errors(bad_service)
    assert any("spec.engine.minReplicas" in e for e in found), found
    assert any("modle" in e for e in found), found

    bad_job = copy.deepcopy(job)
    del bad_job["spec"]["outputLocation"]
    found = schemas.errors(bad_job)
    assert any("outputLocation" in e for e in found), found


def test_a_crd_the_cluster_lacks_is_a_user_error(api_server, kubeconfig):
    schemas = crds.from_cluster()
    with pytest.raises(UserError) as failure:
        schemas.errors({"apiVersion": "ome.io/v1beta1", "kind": "BaseModel",
                        "metadata": {"name": "m", "namespace": "n"}, "spec": {}})
    text = str(failure.value.diagnostics[0].message)
    assert "cannot read CRD basemodels.ome.io: 404" in text


def test_cli_renders_against_the_cluster(api_server, kubeconfig, tmp_path):
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "TUNEOPS_CACHE_DIR": str(tmp_path / "c")}
    out = subprocess.run(
        [str(Path(sys.executable).with_name("tuneops")), "render", str(EXAMPLE),
         "--crd-dir", "cluster", "--out", str(tmp_path / "manifests")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "valid against cluster:current-context" in out.stdout
    exp = load_experiment(EXAMPLE)
    assert (tmp_path / "manifests" / exp.name / "_shared" / "clusterservingruntime.yaml").exists()
