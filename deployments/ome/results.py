"""Bring a BenchmarkJob's genai-bench files back from where OME told genai-bench to put them.

OME never reads results back (commit 17b77eda, pkg/controller/v1beta1/benchmark): it mounts
a `pvc://<claim>/<sub-path>` claim at `/<sub-path>` and runs genai-bench with
`--experiment-base-dir /<sub-path> --experiment-folder-name <resultFolderName>`, so the
files sit in the claim at `<sub-path>/<resultFolderName>/`. For `s3://<bucket>[@region]/
<prefix>` it adds `--upload-results --storage-provider aws`, and genai-bench 0.0.5 uploads
every file of the experiment folder as `<prefix>/<file>` (the folder name is not part of
the key).

Every measurement (each run, trial, attempt and repeat) writes to a location of its own:
``for_measurement`` adds a fresh folder to the job's ``storageUri`` before it is applied,
so genai-bench's folder (pvc) or key prefix (s3) holds only what that job wrote. Without
it every repeat, retry and later run of a trial would share one folder, and a leftover
file (genai-bench names files by how long the run took) could be the one parsed.

A claim is read by a short-lived pod that mounts it read-only and prints the result JSONs
as a base64 tar through its log: the runner needs no route into the cluster beyond the API
server. A bucket is read with boto3, which takes credentials and an endpoint
(`AWS_ENDPOINT_URL_S3`) from the usual environment.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import re
import shlex
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tuneops.deployments.common.backend import ConfigFailure, InfraFailure

READ_SCHEMES = ("pvc", "s3")  # what tuneops reads back
MOUNT = "/results"
_PVC = re.compile(r"^pvc://(?:(?P<ns>[a-z0-9-]+):)?(?P<claim>[^/:]+)/(?P<sub>.+)$")
_S3 = re.compile(r"^s3://(?P<bucket>[^/@]+)(?:@(?P<region>[^/]+))?(?:/(?P<prefix>.*))?$")


@dataclass(frozen=True)
class Location:
    """Where one BenchmarkJob's files are: a folder in a claim, or a key prefix."""

    scheme: str
    container: str  # claim or bucket
    path: str  # folder in the claim, or key prefix ("" = bucket root)
    namespace: str | None = None  # the claim's namespace, when the URI names one
    region: str | None = None


def measurement_key(out_dir: Path, *parts: str) -> str:
    """A folder name no other measurement uses: the attempt and repeat folders the runner
    gave this measurement (readable), any ``parts`` (a level of its own: ``s0-c4``) and a
    random part (another run, or a confirmation round, of the same trial never shares
    it)."""
    words = [Path(out_dir).parent.name, Path(out_dir).name, *parts, uuid.uuid4().hex[:12]]
    key = re.sub(r"[^a-z0-9-]+", "-", "-".join(words).lower()).strip("-")
    return key[-63:].lstrip("-")


def for_measurement(job: dict[str, Any], key: str) -> dict[str, Any]:
    """The BenchmarkJob to apply for one measurement: its ``storageUri`` one folder deeper,
    ``key``, which only this measurement uses."""
    out = copy.deepcopy(job)
    where = out["spec"]["outputLocation"]
    where["storageUri"] = f"{where['storageUri'].rstrip('/')}/{key}"
    return out


def location(storage_uri: str, result_folder: str | None) -> Location:
    """Parse outputLocation.storageUri the way OME's storage package does."""
    pvc = _PVC.match(storage_uri)
    if pvc:
        sub = pvc["sub"].strip("/")
        folder = f"{sub}/{result_folder}" if result_folder else sub
        return Location("pvc", pvc["claim"], folder, namespace=pvc["ns"])
    s3 = _S3.match(storage_uri)
    if s3:
        return Location("s3", s3["bucket"], (s3["prefix"] or "").strip("/"),
                        region=s3["region"])
    scheme = storage_uri.split("://", 1)[0]
    raise ConfigFailure(
        f"tuneops cannot read BenchmarkJob results back from {scheme}:// "
        f"(it reads {', '.join(s + '://' for s in READ_SCHEMES)})"
    )


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Regular files with plain relative names only: nothing a tar could plant elsewhere."""
    out = []
    for member in tar.getmembers():
        name = PurePosixPath(member.name)
        if member.isfile() and not name.is_absolute() and ".." not in name.parts:
            out.append(member)
    return out


def untar(data: bytes, into: Path) -> list[str]:
    into.mkdir(parents=True, exist_ok=True)
    names = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in _safe_members(tar):
            target = into / PurePosixPath(member.name).name
            source = tar.extractfile(member)
            if source is None:
                continue
            target.write_bytes(source.read())
            names.append(target.name)
    return sorted(names)


def reader_pod(name: str, namespace: str, loc: Location, image: str,
               labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    """A pod that prints the folder's result JSONs as a base64 gzip tar, then exits."""
    folder = shlex.quote(f"{MOUNT}/{loc.path}")
    # No folder or no JSON (genai-bench measured nothing): print nothing, succeed.
    script = (f"cd {folder} 2>/dev/null && ls *.json >/dev/null 2>&1 || exit 0; "
              "tar czf - *.json | base64")
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": annotations},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "read", "image": image, "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "results", "mountPath": MOUNT, "readOnly": True}],
            }],
            "volumes": [{"name": "results", "persistentVolumeClaim": {
                "claimName": loc.container, "readOnly": True}}],
        },
    }


def decode_log(text: str, into: Path) -> list[str]:
    """The reader pod's log (base64 of a tar) unpacked into ``into``; an empty log is an
    empty folder."""
    if not text.strip():
        into.mkdir(parents=True, exist_ok=True)
        return []
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
        return untar(data, into)
    except (binascii.Error, tarfile.TarError, OSError) as e:
        raise InfraFailure(f"could not unpack the results the reader pod printed: {e}") from e


def wait_pod_done(read_pod, timeout_s: float, poll_s: float = 0.5) -> str:
    """Poll ``read_pod()`` (a V1Pod) until it Succeeded or Failed; returns the phase."""
    deadline = time.monotonic() + timeout_s
    while True:
        pod = read_pod()
        phase = pod.status.phase if pod and pod.status else None
        if phase in ("Succeeded", "Failed"):
            return phase
        if time.monotonic() >= deadline:
            raise InfraFailure(f"result reader pod not done within {timeout_s:g}s (phase "
                               f"{phase or 'unknown'})")
        time.sleep(poll_s)


def download_s3(loc: Location, into: Path) -> list[str]:
    """Every result JSON under the prefix, into ``into`` (boto3 reads the environment)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as e:
        raise InfraFailure("reading s3:// results needs boto3 (pip install 'tuneops[ome]')") \
            from e
    into.mkdir(parents=True, exist_ok=True)
    prefix = f"{loc.path}/" if loc.path else ""
    names = []
    try:
        s3 = boto3.client("s3", region_name=loc.region) if loc.region else boto3.client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=loc.container, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                rel = item["Key"][len(prefix):]
                if "/" in rel or not rel.endswith(".json"):
                    continue
                s3.download_file(loc.container, item["Key"], str(into / rel))
                names.append(rel)
    except (BotoCoreError, ClientError) as e:
        raise InfraFailure(f"reading results from s3://{loc.container}/{prefix}: {e}") from e
    return sorted(names)


# genai-bench records its whole command line in experiment_metadata.json ("cmd"), with
# the credentials the pod got from its Secrets (--storage-aws-secret-access-key ..., 0.0.5):
# they are masked before the files are kept, since this runner never saw them to register.
_CREDENTIAL_FLAG = re.compile(
    r"(--[a-z0-9-]*(?:secret|token|password|api-key|access-key)[a-z0-9-]*[ =])[^\s\"]+")


def scrub_credentials(folder: Path, mask: str) -> None:
    """Mask credential flag values in every result JSON of ``folder``, in place."""
    for path in Path(folder).glob("*.json"):
        text = path.read_text(errors="replace")
        clean = _CREDENTIAL_FLAG.sub(lambda m: m.group(1) + mask, text)
        if clean != text:
            path.write_text(clean)
