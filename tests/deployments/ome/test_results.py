"""Reading a BenchmarkJob's results back (deployments/ome/results.py): where OME puts
them, and a hostile tar from the reader pod."""

from __future__ import annotations

import pytest
from tuneops.deployments.common.backend import ConfigFailure
from tuneops.deployments.ome import results as ome_results


def test_result_locations_are_parsed_as_ome_parses_them():
    assert ome_results.location("pvc://claim/a/b", "t1") == ome_results.Location(
        "pvc", "claim", "a/b/t1")
    assert ome_results.location("pvc://ns1:claim/a", None).namespace == "ns1"
    assert ome_results.location("s3://bucket@eu-west-1/p/q", "t1") == ome_results.Location(
        "s3", "bucket", "p/q", region="eu-west-1")
    with pytest.raises(ConfigFailure, match="cannot read BenchmarkJob results back from gs://"):
        ome_results.location("gs://bucket/p", "t1")


def test_a_tar_cannot_write_outside_the_results_folder(tmp_path):
    import base64
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("../escape.json", "/abs.json", "ok.json"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    names = ome_results.decode_log(base64.b64encode(buffer.getvalue()).decode(), tmp_path / "r")
    assert names == ["ok.json"]
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == ["ok.json"]
