"""tuneops: declarative experiments that find the engine settings worth shipping.

Layers, each importing only those before it (checked by import-linter, see .importlinter):
spec (yamlio, spec, expr, validate) -> plan -> renderers -> runner -> cli.
"""

__version__ = "0.1.0"
