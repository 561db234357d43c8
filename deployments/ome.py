"""Mode ``ome``: each trial is an OME InferenceService on Kubernetes (with the
BenchmarkJob that measures it in the cluster).

The trial renders ``inferenceservice.yaml`` and ``benchmarkjob.yaml``; objects shared by
every trial (a generated ClusterServingRuntime / ClusterBaseModel) render once into
``_shared/``. Every object is validated against OME's CRDs (vendored in schemas/crds/ome,
or read from a cluster). The cluster, not this machine, assigns GPUs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from tuneops.deployments.base import DeploymentMode, LaunchPlan, Objects, PathResolver
from tuneops.deployments.docker import needs_image
from tuneops.renderers import crds, ome

from tuneops.checks_base import Context
from tuneops.plan import Trial
from tuneops.spec import Experiment

OPTIONS_SCHEMA = json.loads((Path(__file__).parent / "ome.options.json").read_text())
SHARED_PREFIX = "_shared/"


class OmeMode(DeploymentMode):
    name: ClassVar[str] = "ome"
    description: ClassVar[str] = "an InferenceService per trial on Kubernetes (OME)"
    options_schema: ClassVar[dict[str, Any]] = OPTIONS_SCHEMA
    schedules_gpus: ClassVar[bool] = True
    backend: ClassVar[str] = "tuneops.runner.backends.ome:OmeBackend"

    def check(self, ctx: Context) -> None:
        needs_image(ctx, self.name)
        exp = ctx.exp
        dep, options = exp.deployment, exp.deployment.ome
        if ctx.get("deployment", "ome") is None:
            ctx.error(
                ("deployment",),
                "deployment mode ome needs a deployment.ome section",
                "with baseModel, runtime or generateRuntime, and benchmarkStorageUri",
            )
            return
        where = ("deployment", "ome")
        if not options.base_model:
            ctx.error(where, "mode ome needs ome.baseModel", "the ClusterBaseModel to serve")
        if not options.runtime and not options.generate_runtime:
            ctx.error(
                where,
                "mode ome needs ome.runtime or ome.generateRuntime: true",
                "name a ClusterServingRuntime, or let tuneops generate one",
            )
        if options.runtime and options.generate_runtime:
            ctx.error(
                (*where, "generateRuntime"),
                "ome.runtime and ome.generateRuntime exclude each other",
                "keep one",
            )
        if not options.storage_uri:
            ctx.error(
                where,
                "mode ome needs ome.benchmarkStorageUri",
                "where BenchmarkJobs write results, e.g. pvc://bench-results/tuneops",
            )
        if dep.gpus.devices:
            ctx.error(
                ("deployment", "gpus", "devices"),
                "mode ome cannot pin GPU devices: Kubernetes assigns them",
                "use count",
            )

    def shared_objects(self, exp: Experiment) -> Objects:
        return ome.shared_manifests(exp)

    def trial_objects(self, exp: Experiment, trial: Trial) -> Objects:
        return ome.trial_manifests(exp, trial)

    def schema_problems(
        self, exp: Experiment, objects: Mapping[str, Objects], crd_dir: Path | str | None
    ) -> tuple[list[str], int, str]:
        schemas = crds.crd_source(crd_dir)
        problems, checked = [], 0
        for folder, files in objects.items():
            for name, manifest in files.items():
                checked += 1
                problems += [f"{exp.name}/{folder}/{name}: {message}"
                             for message in schemas.errors(manifest)]
        return problems, checked, schemas.source

    def launch(
        self, exp: Experiment, trial: Trial, objects: Objects, resolve: PathResolver
    ) -> LaunchPlan:
        # the objects to apply, by kind: the trial's service, the shared ones once per run
        kinds = {m["kind"]: m for name, m in objects.items()
                 if name == "inferenceservice.yaml" or name.startswith(SHARED_PREFIX)}
        runner = kinds["InferenceService"]["spec"]["engine"]["runner"]
        return LaunchPlan(command=list(runner["command"]), env=dict(exp.engine.env),
                          container_port=ome.PORT, spec=kinds)

    def backend_options(self, exp: Experiment) -> dict[str, Any]:
        return {"namespaces": (exp.deployment.ome.namespace,)}

    def reap_options(self, namespaces: tuple[str, ...]) -> dict[str, Any]:
        return {"namespaces": namespaces} if namespaces else {}
