"""Engine programs tuneops starts as separate processes: the SGLang simulator and the
llama.cpp launcher.

They are what a trial deploys, not part of the runner: nothing here imports the runner,
renderers or the pure core (an import-linter contract checks it), and the simulator needs
only the standard library so that it runs in a bare python3 image.
"""
