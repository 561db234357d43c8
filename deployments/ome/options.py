"""``deployment.ome``: the block of the experiment this mode owns, as written
(options.json, its JSON Schema, joins the experiment schema) and as typed values.

The spec keeps mode blocks as written (``Deployment.blocks``); only this module knows
what the ome block means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneops.spec import Experiment

NAME = "ome"
OPTIONS_SCHEMA = json.loads((Path(__file__).parent / "options.json").read_text())


@dataclass(frozen=True)
class OmeOptions:
    namespace: str = "default"
    base_model: str | None = None
    runtime: str | None = None
    generate_runtime: bool = False
    generate_base_model: dict[str, Any] | None = None
    model_metadata: dict[str, str] | None = None  # what OME's model agent will fill in
    storage_uri: str | None = None
    benchmark_image: str | None = None
    service_account: str | None = None
    benchmark_in: str = "cluster"  # where genai-bench runs: "cluster" (BenchmarkJob) | "runner"
    gpu_product_label: str = "nvidia.com/gpu.product"
    gpu_products: tuple[str, ...] = ()  # label values allowed; () = derived from gpus.type
    tolerations: tuple[dict[str, Any], ...] = ()
    gpu_budget: int | None = None  # cluster GPUs the experiment may hold at once
    reader_image: str = "busybox:1.36"
    monitoring: bool = False  # a PodMonitor per trial (prometheus-operator)
    benchmark_pod: dict[str, Any] | None = None  # the BenchmarkJob's podOverride, as written


def ome_options(exp: Experiment) -> OmeOptions:
    """The experiment's ome block (schema-valid: validate checked it), typed."""
    ome = exp.deployment.blocks.get(NAME) or {}
    return OmeOptions(
        namespace=ome.get("namespace", "default"),
        base_model=ome.get("baseModel"),
        runtime=ome.get("runtime"),
        generate_runtime=bool(ome.get("generateRuntime", False)),
        generate_base_model=ome.get("generateBaseModel"),
        model_metadata=ome.get("modelMetadata"),
        storage_uri=ome.get("benchmarkStorageUri"),
        benchmark_image=ome.get("benchmarkImage"),
        service_account=ome.get("serviceAccount"),
        benchmark_in=ome.get("benchmarkIn", "cluster"),
        gpu_product_label=ome.get("gpuProductLabel", "nvidia.com/gpu.product"),
        gpu_products=tuple(ome.get("gpuProducts", ())),
        tolerations=tuple(dict(t) for t in ome.get("tolerations", ())),
        gpu_budget=ome.get("gpuBudget"),
        reader_image=ome.get("readerImage", "busybox:1.36"),
        monitoring=bool(ome.get("monitoring", False)),
        benchmark_pod=ome.get("benchmarkPod"),
    )
