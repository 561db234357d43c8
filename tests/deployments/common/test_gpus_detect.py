"""GPU detection end to end: `GpuPool.from_machine` runs whatever `nvidia-smi` is first on
PATH. Here that is a fake executable which insists on exactly the query flags tuneops uses
(a real nvidia-smi rejects what it does not know, exit 2) and prints a fixture in the
documented output format (tests/fixtures/nvidia_smi/README.md), or fails like nvidia-smi
does without devices or driver."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest
from tuneops.deployments.common import gpus
from tuneops.deployments.common.gpus import GpuPool

from tests.paths import TESTS

FIXTURES = TESTS / "fixtures" / "nvidia_smi"


def install_fake(bin_dir: Path, stdout: str, code: int = 0) -> Path:
    """An `nvidia-smi` in bin_dir; it records its argv next to itself."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "nvidia-smi"
    exe.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys
        from pathlib import Path
        Path(__file__).with_name("argv.json").write_text(json.dumps(sys.argv[1:]))
        if sys.argv[1:] != {gpus.NVIDIA_SMI_QUERY[1:]!r}:
            print("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.")
            sys.exit(2)
        sys.stdout.write({stdout!r})
        sys.exit({code})
        """))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bin folder first on PATH; nothing else named nvidia-smi is reachable."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return bin_dir


def test_an_h100_node_gives_a_pool_of_its_eight_indexes(fake_path: Path):
    install_fake(fake_path, (FIXTURES / "h100x8.csv").read_text())
    pool = GpuPool.from_machine()
    assert pool.ids == tuple(str(i) for i in range(8))
    assert (fake_path / "argv.json").read_text() == (
        '["--query-gpu=index,uuid,name,memory.total,memory.used", '
        '"--format=csv,noheader,nounits"]')
    found = gpus.detect()
    assert {g.name for g in found} == {"NVIDIA H100 80GB HBM3"}
    assert all(g.memory_total_mib == 81559 for g in found)
    assert found[3].memory_used_mib == 74212 and found[3].uuid.startswith("GPU-7f25a8d1-")
    assert pool.acquire(2) == ("0", "1")


def test_mig_node_lists_physical_gpus(fake_path: Path):
    install_fake(fake_path, (FIXTURES / "a100_mig.csv").read_text())
    found = gpus.detect()
    assert [(g.index, g.name, g.memory_total_mib) for g in found] == [
        ("0", "NVIDIA A100-SXM4-40GB", 40960), ("1", "NVIDIA A100-SXM4-40GB", 40960)]


def test_unreported_memory_is_none_not_an_error(fake_path: Path):
    install_fake(fake_path, (FIXTURES / "mixed_na.csv").read_text())
    found = gpus.detect()
    assert [g.name for g in found] == ["NVIDIA GeForce RTX 3090", "Tesla T4"]
    assert [g.memory_used_mib for g in found] == [None, None]
    assert [g.memory_total_mib for g in found] == [24576, 15360]
    assert GpuPool.from_machine().ids == ("0", "1")


def test_declared_ids_win_over_detection(fake_path: Path):
    install_fake(fake_path, (FIXTURES / "h100x8.csv").read_text())
    pool = GpuPool.from_machine(["GPU-6a1f4b2e-91c3-4d07-8e55-0b7c2d9f1a30", "5"])
    assert pool.ids == ("GPU-6a1f4b2e-91c3-4d07-8e55-0b7c2d9f1a30", "5")
    assert not (fake_path / "argv.json").exists()  # nvidia-smi never ran


@pytest.mark.parametrize("stdout,code", [
    ("No devices were found\n", 6),
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure "
     "that the latest NVIDIA driver is installed and running.\n\n", 9),
])
def test_a_failing_nvidia_smi_means_no_gpus(fake_path: Path, stdout: str, code: int):
    install_fake(fake_path, stdout, code)
    assert gpus.detect() == []
    pool = GpuPool.from_machine()
    assert pool.size == 0 and pool.acquire(0) == ()
    with pytest.raises(ValueError, match="pool has 0"):
        pool.acquire(1)


def test_no_nvidia_smi_on_path_means_no_gpus(fake_path: Path):
    assert gpus.detect() == []
    assert GpuPool.from_machine().size == 0


@pytest.mark.gpu
def test_the_real_nvidia_smi_of_a_gpu_machine():
    """The one test allowed to skip (tests/no_skips.py): it needs a real NVIDIA GPU."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        pytest.skip("no nvidia-smi: this machine has no NVIDIA GPU")
    out = subprocess.run(gpus.NVIDIA_SMI_QUERY, capture_output=True, text=True, check=True).stdout
    found = gpus.detect()
    assert found and len(found) == len([line for line in out.splitlines() if line.strip()])
    assert all(g.uuid.startswith(("GPU-", "MIG-")) and g.memory_total_mib for g in found)
    assert GpuPool.from_machine().ids == tuple(g.index for g in found)
