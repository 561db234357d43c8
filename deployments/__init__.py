"""Deployment modes: where a trial's engine runs (a local process, a Docker container, an
OME InferenceService on Kubernetes).

Each mode is one module here, bundling everything that differs between modes: its options
block in the experiment, its feasibility checks, the files a trial renders into
manifests/, the launch the runner derives from exactly those files, and the backend that
starts it. The registry (``tuneops.registry.deployment_modes``) lists the built-in modes
and any installed plug-in that declares a ``tuneops.deployments`` entry point; the
schema's ``deployment.mode`` enum, the CLI's choices, plan, render and the runner all read
it, so a new mode needs no edit anywhere else.
"""
