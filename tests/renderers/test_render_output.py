"""Writing manifests/: golden files, byte-for-byte determinism, atomic swap, stale folders.

Regenerate the golden files after an intended change with
`TUNEOPS_REGEN_GOLDEN=1 python -m pytest tests/renderers/test_render_output.py`.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
from tuneops.renderers.render import check_rendered, render_experiment, render_tree

from tests.paths import ROOT, TESTS
from tuneops import spec, yamlio
from tuneops.errors import UserError
from tuneops.plan import make_plan

EXAMPLES = sorted((ROOT / "experiments" / "examples").glob("*.yaml"))
GOLDEN = TESTS / "golden"
REGEN = bool(os.environ.get("TUNEOPS_REGEN_GOLDEN"))
GOLDEN_TRIALS = 2  # trials per example kept as golden files (plus index and _shared)


def load(path: Path) -> spec.Experiment:
    return spec.from_document(yamlio.to_plain(yamlio.load(path)))


def load_doc(name: str) -> dict:
    return yamlio.to_plain(yamlio.load(ROOT / "experiments" / "examples" / name))


def golden_subset(exp: spec.Experiment, files: dict[str, str]) -> dict[str, str]:
    keep = {t.id for t in make_plan(exp).trials[:GOLDEN_TRIALS]} | {"_shared"}
    return {rel: text for rel, text in files.items() if "/" not in rel or rel.split("/")[0] in keep}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_match_golden_files(path):
    exp = load(path)
    files = golden_subset(exp, render_tree(exp)[0])
    folder = GOLDEN / exp.name
    if REGEN:
        shutil.rmtree(folder, ignore_errors=True)
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text, encoding="utf-8")
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk == set(files), "golden files differ: set TUNEOPS_REGEN_GOLDEN=1 to update"
    for rel, text in files.items():
        assert (folder / rel).read_text(encoding="utf-8") == text, rel


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_committed_manifests_are_current(path):
    assert check_rendered(load(path), ROOT / "manifests") == []


def test_renders_are_byte_identical_across_runs_homes_and_folders(tmp_path, monkeypatch):
    exps = [load(p) for p in EXAMPLES]
    first = [render_tree(e)[0] for e in exps]
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert [render_tree(e)[0] for e in exps] == first
    for files in first:
        for text in files.values():
            assert str(ROOT) not in text and str(tmp_path) not in text


def test_render_experiment_swaps_the_tree_and_drops_stale_trials(tmp_path):
    doc = load_doc("sim-small.yaml")
    exp = spec.from_document(copy.deepcopy(doc))
    first = render_experiment(exp, tmp_path)
    assert first.trials == 4 and first.removed == ()
    target = tmp_path / exp.name
    assert (target / "index.json").exists()
    sh = next(target.glob("*/docker-run.sh"))
    assert os.stat(sh).st_mode & 0o111
    doc["parameters"]["mem-fraction-static"] = [0.5]
    smaller = spec.from_document(doc)
    second = render_experiment(smaller, tmp_path)
    kept = {t.id for t in make_plan(smaller).trials}
    assert second.trials == 2 and len(second.removed) == 2
    assert {p.name for p in target.iterdir() if p.is_dir()} == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [exp.name]  # no temp folders left
    assert check_rendered(smaller, tmp_path) == []


def test_a_failed_render_leaves_the_previous_output_untouched(tmp_path):
    doc = load_doc("sim-small.yaml")
    render_experiment(spec.from_document(copy.deepcopy(doc)), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    doc["engine"]["args"]["bad"] = "lone surrogate \ud800"  # cannot be written as UTF-8
    with pytest.raises(UserError, match="UTF-8"):
        render_experiment(spec.from_document(doc), tmp_path)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_an_invalid_ome_render_writes_nothing(tmp_path):
    doc = load_doc("sglang-ome.yaml")
    doc["deployment"]["ome"]["namespace"] = "UPPER"
    with pytest.raises(UserError):
        render_experiment(spec.from_document(doc), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_check_rendered_reports_missing_changed_and_stale_files(tmp_path):
    exp = load(ROOT / "experiments" / "examples" / "sim-small.yaml")
    assert check_rendered(exp, tmp_path)[0].startswith("missing: ")
    render_experiment(exp, tmp_path)
    target = tmp_path / exp.name
    victim = next(target.glob("*/docker.json"))
    victim.write_text(victim.read_text() + " ")
    (target / "0badc0ffee00").mkdir()
    (target / "0badc0ffee00" / "docker.json").write_text("{}")
    gone = next(target.glob("*/docker-run.sh"))
    gone.unlink()
    diffs = check_rendered(exp, tmp_path)
    assert f"differs: {victim}" in diffs
    assert f"stale: {target / '0badc0ffee00' / 'docker.json'}" in diffs
    assert f"missing: {gone}" in diffs
    assert len(diffs) == 3
