"""Mode ``ome``: an OME InferenceService per trial on Kubernetes.

``options.py`` + ``options.json`` (the ``deployment.ome`` block), ``render.py`` +
``templates/`` (the manifests), ``crds.py`` (checking them against OME's CRDs),
``mode.py`` (the mode), ``backend.py`` + ``benchmark.py`` + ``results.py`` (the
Kubernetes client: the service, the BenchmarkJob, reading its results back). ``MODE``
joins mode and backend; the registry (tuneops.deployments.registry) lists it.
"""

from tuneops.deployments.ome.backend import OmeBackend
from tuneops.deployments.ome.mode import OmeMode

MODE = OmeMode(backend=OmeBackend)
