"""`tuneops run` refuses what it cannot run with a user error, before anything starts."""

from __future__ import annotations

from pathlib import Path

from tuneops import cli

OME_EXAMPLE = Path(__file__).resolve().parent.parent / "experiments/examples/sglang-ome.yaml"


def test_ome_mode_is_a_clear_user_error_and_writes_nothing(tmp_path, capsys):
    code = cli.main(["run", str(OME_EXAMPLE), "--runs-dir", str(tmp_path / "runs"),
                     "--reports-dir", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert code == 2
    assert "deployment.mode: `tuneops run` cannot run mode 'ome' trials yet" in err
    assert "manifests/llama8b-ome-tp/" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()
