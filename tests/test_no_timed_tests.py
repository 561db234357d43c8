"""No test asserts on the clock or waits a fixed time (the developers' guide; issue 26).

On a shared, loaded machine a timed assert is flaky and a fixed sleep is either too short
(flaky) or too long (slow). A test polls its condition with a deadline instead
(tests/helpers/polling.py). Read from the syntax tree, so code inside strings (the
programs a test starts: a hung engine, a killed runner) is not the test's own waiting.

Allowed `sleep(` calls:
- in a `while` loop: a polling loop that re-checks its condition between waits;
- in the modules below, which play a real system's own delays (a stand-in's token
  latency, an engine slow to start, a controller acting later), each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CLOCKS = {"monotonic", "time", "perf_counter", "monotonic_ns", "time_ns"}
STAND_INS = {
    "helpers/polling.py": "the one polling helper",
    "helpers/openai_stub_server.py": "a stand-in server's per-token latency",
    "backends/standin_engine.py": "a stand-in engine's start-up delay (--start-delay)",
    "backends/killed_runner.py": "a runner process that is killed while it sleeps",
    "deployments/ome/test_backend.py": "_play_controller: OME's controller acts some time after "
                                    "the InferenceService is created",
}


def _calls(node: ast.AST, names: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in names:
                return True
    return False


def _findings(path: Path, root: Path = TESTS) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(root).as_posix()
    out = []

    def visit(node: ast.AST, in_while: bool) -> None:
        if isinstance(node, ast.Assert) and _calls(node.test, CLOCKS):
            out.append(f"{rel}:{node.lineno}: an assert on the clock")
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name == "sleep" and not in_while and rel not in STAND_INS:
                out.append(f"{rel}:{node.lineno}: a fixed sleep outside a polling loop")
        for child in ast.iter_child_nodes(node):
            visit(child, in_while or isinstance(node, ast.While))

    visit(tree, False)
    return out


def test_no_test_asserts_on_the_clock_or_sleeps_a_fixed_time():
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 50
    found = [f for path in files for f in _findings(path)]
    assert found == []


def test_the_check_finds_what_it_forbids(tmp_path):
    """The checker itself: each forbidden shape is found, each allowed one is not."""
    bad = tmp_path / "test_bad.py"
    bad.write_text(
        "import time\n"
        "t0 = time.monotonic()\n"
        "assert time.monotonic() - t0 < 5\n"
        "time.sleep(0.5)\n"
        "while not done():\n"
        "    time.sleep(0.1)\n"
        "run('import time; time.sleep(9)')\n"
    )
    assert _findings(bad, tmp_path) == [
        "test_bad.py:3: an assert on the clock",
        "test_bad.py:4: a fixed sleep outside a polling loop"]
