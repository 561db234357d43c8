"""The no-silent-skips rule (tests/no_skips.py) on a small inner suite run by pytester:
every way of skipping fails, except a test marked `gpu`; xfail is left alone."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = '''
import pytest

@pytest.fixture
def needs_thing():
    pytest.skip("thing missing")

def test_body_skip():
    pytest.skip("not today")

@pytest.mark.skipif(True, reason="condition")
def test_skipif():
    pass

@pytest.mark.skip(reason="marked")
def test_marked_skip():
    pass

def test_fixture_skip(needs_thing):
    pass

@pytest.mark.gpu
def test_gpu_may_skip():
    pytest.skip("no NVIDIA GPU on this machine")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_passes():
    assert 1 + 1 == 2
'''


def _run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=source)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "markers =\n    gpu: needs a GPU\n")
    return pytester.runpytest_inprocess("-p", "tests.no_skips", "-p", "no:randomly", "-rs")


def test_every_skip_fails_but_gpu_marked_ones(pytester: pytest.Pytester):
    result = _run(pytester, INNER)
    outcomes = result.parseoutcomes()
    # a skip in the call fails the test; one at setup (skipif, skip mark, fixture) errors it
    assert outcomes == {"failed": 1, "errors": 3, "passed": 1, "skipped": 1, "xfailed": 1}
    text = result.stdout.str()
    for name in ("test_body_skip", "test_skipif", "test_marked_skip", "test_fixture_skip"):
        assert f"test_inner.py::{name}" in text
    assert "skipped (Skipped: not today)" in text and "(Skipped: thing missing)" in text
    assert "SKIPPED [1] test_inner.py:" in text and "no NVIDIA GPU" in text  # -rs lists it


def test_a_module_level_importorskip_fails_collection(pytester: pytest.Pytester):
    result = _run(pytester, "import pytest\n"
                            "pytest.importorskip('no_such_module_anywhere')\n"
                            "def test_x():\n    pass\n")
    assert result.ret != 0
    assert result.parseoutcomes().get("errors") == 1
    assert "no_such_module_anywhere" in result.stdout.str()
