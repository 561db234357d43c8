"""What OME's admission webhooks and controllers refuse, checked by `tuneops validate` so
the refusal is an exit-2 diagnostic at the experiment's line instead of an HTTP 403 (or a
controller error) in the middle of a run.

Each rule cites the OME source it follows, at commit 17b77eda (the commit the CRDs in
schemas/crds/ome are vendored from).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tuneops.deployments.ome import render as ome
from tuneops.deployments.ome.options import ome_options

if TYPE_CHECKING:
    from tuneops.checks_base import Context

# Trial ids are tuneops.plan.ID_LENGTH hex digits; plan sits above the modes, so the
# figure is repeated here and a test keeps the two equal.
ID_LENGTH = 12
# pkg/webhook/admission/isvc/inference_service_validation.go:25,33 (IsvcNameFmt, anchored)
ISVC_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# pkg/constants/constants.go:676-678: EngineServiceName(name) = name + "-engine"
ENGINE_SERVICE_SUFFIX = "-engine"
SERVICE_NAME_MAX = 63  # a Service name is a DNS-1035 label
# pkg/webhook/admission/benchmark/benchmark_webhook.go:135-140, copied as written. Go's
# MatchString searches (like re.search), and the text-to-text alternation is unanchored
# in its middle, exactly as OME has it.
SCENARIO_PATTERNS = {
    "text-to-text": re.compile(
        r"^N\(\d+,\d+\)\/\(\d+,\d+\)|U\(\d+,\d+\)(?:\/\(\d+,\d+\))?|D\(\d+,\d+\)$"),
    "text-to-embeddings": re.compile(r"^E\(\d+,\d+\)$"),
    "image-to-text": re.compile(r"^I\(\d+,\d+(?:,\d+)?\)$"),
    "image-to-embeddings": re.compile(r"^I\(\d+,\d+(?:,\d+)?\)$"),
}


def check_names(ctx: Context) -> None:
    """The trial's InferenceService name (`<metadata.name>-<trial id>`) and the Service
    OME derives from it must be valid."""
    name = ctx.exp.name
    if not ISVC_NAME.match(ome.trial_name_for(name, "0" * ID_LENGTH)):
        ctx.error(
            ("metadata", "name"),
            f"OME's InferenceService webhook refuses {name!r}: a name must start with a "
            "lowercase letter (IsvcNameFmt [a-z]([-a-z0-9]*[a-z0-9])?, "
            "pkg/webhook/admission/isvc/inference_service_validation.go:25,128)",
            "start metadata.name with a letter",
        )
        return
    service = ome.trial_name_for(name, "0" * ID_LENGTH) + ENGINE_SERVICE_SUFFIX
    if len(service) > SERVICE_NAME_MAX:
        room = SERVICE_NAME_MAX - len(ENGINE_SERVICE_SUFFIX) - ID_LENGTH - 1
        ctx.error(
            ("metadata", "name"),
            f"OME names each trial's Service '<trial>-engine' "
            f"(pkg/constants/constants.go:676-678), {len(service)} characters here; "
            f"Kubernetes allows {SERVICE_NAME_MAX}",
            f"shorten metadata.name to at most {room} characters",
        )


def check_benchmark_job(ctx: Context) -> None:
    """What OME's BenchmarkJob webhook and controller refuse (cluster benchmarking only)."""
    exp, options = ctx.exp, ome_options(ctx.exp)
    task = ome.TASKS.get(exp.benchmark.task)
    pattern = SCENARIO_PATTERNS.get(task or "")
    for i, scenario in enumerate(exp.benchmark.traffic_scenarios):
        if pattern is not None and not pattern.search(scenario):
            hint = "E(<input tokens>,<batch size>)" if task == "text-to-embeddings" else \
                pattern.pattern
            ctx.error(
                ("benchmark", "trafficScenarios", i),
                f"OME's BenchmarkJob webhook refuses scenario {scenario!r} for task {task}: "
                "invalid scenario format (pkg/webhook/admission/benchmark/"
                "benchmark_webhook.go:135-151)",
                f"write it as {hint}, or deployment.ome.benchmarkIn: runner",
            )
    generated = options.generate_base_model
    if isinstance(generated, dict) and not generated.get("path"):
        ctx.error(
            ("deployment", "ome", "generateBaseModel"),
            "OME's BenchmarkJob needs the base model's storage.path (the tokenizer and the "
            "model volume, pkg/controller/v1beta1/benchmark/utils/utils.go:68-75 and "
            "controller.go:345-346); without it the job never starts",
            "add generateBaseModel.path: the node folder the weights are downloaded to",
        )
    uri = options.storage_uri or ""
    if uri.startswith("pvc://") and ":" in uri[len("pvc://"):].split("/", 1)[0]:
        ctx.error(
            ("deployment", "ome", "benchmarkStorageUri"),
            "OME mounts a BenchmarkJob's result claim from the job's own namespace and "
            "ignores the namespace in pvc://<namespace>:<claim>/… "
            "(pkg/controller/v1beta1/benchmark/controller.go:370-381)",
            f"write pvc://<claim>/<folder> with the claim in namespace {options.namespace!r} "
            "(deployment.ome.namespace)",
        )
