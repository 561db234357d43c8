"""Runner backends: the side of a deployment mode that starts, watches and stops engines.

Which backend a trial uses is its deployment mode's ``backend`` (``tuneops.deployments``);
the runner imports it by that name, so this package lists nothing itself.
"""
