"""No silent skips: a skipped test is reported as failed unless it is marked `gpu`.

A skip is allowed only where a test needs hardware the project's machines cannot provide
(an NVIDIA GPU). Anything else a test needs is installed by `make setup`, so a skip there
would hide a missing feature or a broken install: the test fails instead, with the reason.
Covers every stage (collection, importorskip, fixtures, skipif, pytest.skip in the body).
Registered by tests/conftest.py; CI runs pytest with `-rs` so allowed skips are listed.
"""

from __future__ import annotations

import pytest

ALLOWED_SKIP_MARKER = "gpu"



def _skip_reason(longrepr: object) -> str:
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _fail_skip(report: pytest.BaseReport, where: str) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"{where} skipped ({_skip_reason(report.longrepr)}): a skip is a failure unless the "
        f"test is marked `{ALLOWED_SKIP_MARKER}` (hardware the project cannot provide); "
        "install what it needs or make it fail with the reason"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = (yield).get_result()
    if (report.skipped and not hasattr(report, "wasxfail")
            and item.get_closest_marker(ALLOWED_SKIP_MARKER) is None):
        _fail_skip(report, f"{item.nodeid} ({report.when})")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = (yield).get_result()
    if report.skipped and collector.get_closest_marker(ALLOWED_SKIP_MARKER) is None:
        _fail_skip(report, f"collecting {collector.nodeid}")
