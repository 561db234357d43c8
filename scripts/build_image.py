#!/usr/bin/env python3
"""Build the simulator image without any registry.

1. ``tuneops/debian-python:bookworm``: a Debian rootfs made with debootstrap (minbase plus
   python3) from the Debian mirror, tarred (cached in ``~/.cache/tuneops/``) and imported.
   Skipped when the image exists.
2. ``tuneops/sim:<hash>`` (also ``:latest``): that base plus the simulator's files under
   /opt/tuneops. The hash covers every input file, the generated Dockerfile and the base
   image's id, so the image is rebuilt only when one of them changes.

Usage: ``python scripts/build_image.py [--base-only] [--force-base]``; prints the tag and
timings. ``build_app_image`` is also what the tests use to bake a stand-in engine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import docker
import docker.errors

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "tuneops/debian-python:bookworm"
SIM_REPO = "tuneops/sim"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tuneops"
ROOTFS_TAR = CACHE_DIR / "debian-bookworm-minbase-python3.tar"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
APP_DIR = "/opt/tuneops"

# Files baked into the simulator image: path inside /opt/tuneops -> path in the repository,
# laid out as the installed package is (the simulator finds its data from its own path).
SIM_INPUTS = {
    "tuneops/__init__.py": "tuneops/__init__.py",
    "tuneops/engines/__init__.py": "engines/__init__.py",
    "tuneops/engines/sim": "engines/sim",
    "tuneops/schemas/catalogs/sglang.json": "schemas/catalogs/sglang.json",
    "tuneops/assets/tokenizer": "assets/tokenizer",
}
# Trimmed from the rootfs: documentation and caches nothing at run time reads.
PRUNE = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
         "var/cache/apt", "var/lib/apt/lists", "var/log"]  # fmt: skip


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def make_rootfs_tar(dest: Path = ROOTFS_TAR) -> Path:
    """debootstrap a minimal bookworm with python3 and tar it (root-owned, numeric ids)."""
    if dest.exists():
        return dest
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: apt-get install -y debootstrap")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tuneops-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(rootfs)]
        log(f"$ {' '.join(cmd)} {MIRROR}")
        subprocess.run([*cmd, MIRROR], check=True, stdout=subprocess.DEVNULL)
        for rel in PRUNE:
            target = rootfs / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
        partial = dest.with_suffix(".tar.partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(rootfs, arcname=".", filter=_numeric_owner)
        partial.rename(dest)  # a killed build never leaves a half tarball in the cache
    return dest


def _numeric_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""
    return info


def ensure_base(client: docker.DockerClient, force: bool = False) -> str:
    if image_exists(client, BASE_IMAGE) and not force:
        log(f"{BASE_IMAGE} exists")
        return BASE_IMAGE
    tar = make_rootfs_tar()
    repo, tag = BASE_IMAGE.split(":")
    log(f"importing {tar} as {BASE_IMAGE}")
    client.api.import_image_from_file(
        str(tar),
        repository=repo,
        tag=tag,
        changes=[
            "ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
            'CMD ["python3"]',
        ],
    )
    return BASE_IMAGE


def _files(host_path: Path) -> Iterator[Path]:
    if host_path.is_file():
        yield host_path
        return
    for path in sorted(host_path.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def dockerfile(base: str, command: list[str]) -> str:
    cmd = ", ".join(f'"{part}"' for part in command)
    return (
        f"FROM {base}\n"
        f"COPY app {APP_DIR}\n"
        f"WORKDIR {APP_DIR}\n"
        f"CMD [{cmd}]\n"
    )  # fmt: skip


def build_app_image(
    client: docker.DockerClient,
    repo: str,
    inputs: Mapping[str, Path],
    command: list[str],
    base: str = BASE_IMAGE,
) -> str:
    """Build ``repo:<hash>`` (and ``repo:latest``) from ``base`` plus ``inputs`` in /opt/tuneops.

    ``inputs`` maps a path inside /opt/tuneops to a file or directory on the host.
    """
    missing = [str(p) for p in inputs.values() if not Path(p).exists()]
    if missing:
        raise SystemExit(f"inputs missing for {repo}: {', '.join(missing)}")
    text = dockerfile(base, command)
    digest = hashlib.sha256(text.encode())
    digest.update(client.images.get(base).id.encode())  # a re-imported base rebuilds too
    plan: list[tuple[str, Path]] = []
    for inside, host in sorted(inputs.items()):
        host = Path(host)
        for path in _files(host):
            rel = inside if path == host else f"{inside}/{path.relative_to(host).as_posix()}"
            plan.append((rel, path))
            digest.update(f"{rel}\0{path.stat().st_mode & 0o111}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    tag = f"{repo}:{digest.hexdigest()[:16]}"
    if image_exists(client, tag):
        log(f"{tag} exists: inputs unchanged")
    else:
        with tempfile.TemporaryDirectory(prefix="tuneops-image-") as ctx:
            for rel, path in plan:
                target = Path(ctx) / "app" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            (Path(ctx) / "Dockerfile").write_text(text)
            log(f"building {tag}")
            client.images.build(path=ctx, tag=tag, rm=True, forcerm=True, pull=False)
    client.images.get(tag).tag(repo, "latest")
    return tag


def build_sim_image(client: docker.DockerClient) -> str:
    ensure_base(client)
    inputs = {inside: ROOT / rel for inside, rel in SIM_INPUTS.items()}
    command = ["python3", "-m", "tuneops.engines.sim", "--help"]
    return build_app_image(client, SIM_REPO, inputs, command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-only", action="store_true", help="only the debian-python base")
    parser.add_argument("--force-base", action="store_true", help="re-import the base image")
    args = parser.parse_args(argv)
    client = docker.from_env()
    started = time.monotonic()
    ensure_base(client, force=args.force_base)
    log(f"base ready in {time.monotonic() - started:.1f}s")
    if args.base_only:
        print(BASE_IMAGE)
        return 0
    started = time.monotonic()
    tag = build_sim_image(client)
    size = client.images.get(tag).attrs["Size"]
    log(f"{tag} ready in {time.monotonic() - started:.1f}s, {size / 1e6:.0f} MB")
    print(tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
