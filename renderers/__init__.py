"""The render stage, generic over deployment modes: ``render.py`` writes what a trial's
mode renders into manifests/; ``command.py`` (the engine argv), ``quoting.py``,
``templating.py`` (the one sandboxed, strict Jinja setup) and ``schemacheck.py`` are the
tools every mode renders with. What a mode renders lives in its folder
(deployments/<mode>/render.py and templates/).

Pure functions of the experiment and its plan (no clock, no machine paths), so the
output under manifests/ is byte-for-byte reproducible and reviewable in a pull request.
"""
