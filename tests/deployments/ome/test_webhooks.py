"""validate refuses what OME's webhooks and controllers refuse (deployments/ome/webhooks.py);
the experiments themselves are in tests/bad/ome-*.yaml, with their line numbers."""

from __future__ import annotations

import pytest
from tuneops.deployments.ome import webhooks

from tuneops import plan


def test_the_trial_id_length_matches_the_plans():
    assert webhooks.ID_LENGTH == plan.ID_LENGTH


@pytest.mark.parametrize(("task", "scenario", "ok"), [
    ("text-to-embeddings", "E(512)", False),  # genai-bench's own default form
    ("text-to-embeddings", "E(512,8)", True),
    ("text-to-text", "D(1024,256)", True),
    ("text-to-text", "N(480,240)/(300,150)", True),
    ("text-to-text", "U(50,100)", True),
    ("text-to-text", "D(1024)", False),
    ("image-to-text", "I(512,512)", True),
])
def test_scenario_patterns_are_omes(task, scenario, ok):
    assert bool(webhooks.SCENARIO_PATTERNS[task].search(scenario)) is ok


@pytest.mark.parametrize(("name", "ok"), [
    ("llama8b-ome-tp-0123456789ab", True), ("8b-0123456789ab", False),
    ("-x-0123456789ab", False), ("Llama-0123456789ab", False),
])
def test_inference_service_name_format(name, ok):
    assert bool(webhooks.ISVC_NAME.match(name)) is ok
