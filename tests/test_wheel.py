"""The built wheel carries everything tuneops needs: installed away from the repository, it
validates and renders the examples (schemas, CRDs, templates, catalogs, engine table and
tokenizer come from the package, none from a checkout), and it claims no top-level import
name but ``tuneops``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """tuneops' wheel, built from the repository and installed into a bare folder."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root),
                    str(REPO)], check=True, capture_output=True, text=True)
    [wheel] = root.glob("tuneops-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"tuneops"}, tops
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--target", str(site), str(wheel)], check=True)
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`tuneops ARGS` from the installed copy; dependencies from this venv, but without its
    site hooks (-S), so the editable install of the checkout is not on the path."""
    deps = sysconfig.get_paths()["purelib"]
    code = ("import sys; sys.path[:0] = [sys.argv.pop(1), sys.argv.pop(1)]; "
            "import tuneops; print('from', tuneops.__file__, file=sys.stderr); "
            "from tuneops.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-S", "-c", code, str(site), deps, *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_installed_wheel_validates_and_renders_outside_the_repository(installed, tmp_path):
    work = tmp_path / "elsewhere"
    (work / "experiments").mkdir(parents=True)
    for name in ("sglang-ome.yaml", "sim-small.yaml", "quickstart.yaml"):
        shutil.copy(REPO / "experiments" / "examples" / name, work / "experiments" / name)
    done = run_installed(installed, work, "validate", "experiments")
    assert done.returncode == 0, done.stderr
    assert f"from {installed}" in done.stderr
    done = run_installed(installed, work, "render", "experiments", "--out", "manifests")
    assert done.returncode == 0, done.stderr
    assert "valid against" in done.stdout and str(installed) in done.stdout  # vendored CRDs
    for exp in ("llama8b-ome-tp", "sim-small", "quickstart"):
        assert (work / "manifests" / exp / "index.json").is_file()
        committed = REPO / "manifests" / exp
        for path in (work / "manifests" / exp).rglob("*"):  # the same bytes as the repo's
            if path.is_file():
                assert path.read_bytes() == (committed / path.relative_to(
                    work / "manifests" / exp)).read_bytes(), path
    tokenizer = installed / "tuneops" / "assets" / "tokenizer" / "tokenizer.json"
    sim_catalog = installed / "tuneops" / "schemas" / "catalogs" / "sglang.json"
    assert tokenizer.is_file() and sim_catalog.is_file()
