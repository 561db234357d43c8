"""Everything that rejects a bad experiment, in the order a person would fix it.

1. the file itself (readable UTF-8 text, one YAML document, no duplicate keys or alias
   bombs: tuneops.yamlio), and a mapping at the top;
2. the JSON Schema (schemas/experiment.schema.json), every error at once;
3. only when the schema passes, the checks that need meaning: engine flags against the
   catalog (checks_flags), benchmark and objective (checks_benchmark), the search space
   and constraints (checks_space), and whether a trial can run at all
   (checks_feasibility).

`validate_file` never raises for bad input; `load_experiment` raises one UserError that
carries every diagnostic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneops import (
    checks_benchmark,
    checks_cpus,
    checks_feasibility,
    checks_flags,
    checks_schema,
    checks_space,
    spec,
    yamlio,
)
from tuneops.checks_base import Context
from tuneops.errors import Diagnostic, UserError

CONFIG_MAX_BYTES = 1_000_000
CHECKS = (checks_flags, checks_benchmark, checks_space, checks_feasibility, checks_cpus)


def _read_config(file: str, doc: Any, plain: dict, base_dir: Path) -> list[Diagnostic]:
    """Replace model.configFile by the architecture it describes (in `plain`)."""
    rel = plain["model"].get("configFile")
    if rel is None:
        return []
    line, col = yamlio.position(doc, ("model", "configFile"))
    path = base_dir / rel

    def fail(message: str, hint: str = "") -> list[Diagnostic]:
        return [Diagnostic(file, line, col, "model.configFile", message, hint)]

    try:
        data = path.read_bytes()
    except OSError as exc:
        return fail(
            f"cannot read {rel!r}: {exc.strerror or exc}",
            "the path is relative to the experiment file",
        )
    if len(data) > CONFIG_MAX_BYTES:
        return fail(f"{rel!r} is {len(data)} bytes; a config.json is far smaller")
    try:
        config = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return fail(f"{rel!r} is not valid JSON ({type(exc).__name__})")
    try:
        arch = spec.architecture_from_hf_config(config)
    except (KeyError, TypeError, AttributeError, ZeroDivisionError) as exc:
        return fail(
            f"{rel!r} is not a Hugging Face model config (missing {exc})",
            "needs num_hidden_layers, hidden_size, num_attention_heads",
        )
    bad = [
        k
        for k in ("layers", "attentionHeads", "kvHeads", "hiddenSize")
        if not isinstance(arch[k], int) or isinstance(arch[k], bool) or arch[k] < 1
    ]
    if bad:
        return fail(
            f"{rel!r} has unusable values for {', '.join(bad)}", "expected positive integers"
        )
    if isinstance(config.get("torch_dtype"), str) and "float32" in config["torch_dtype"]:
        arch["dtypeBytes"] = 4
    plain["model"]["architecture"] = arch
    return []


def validate_document(
    doc: Any, file: str = "<experiment>", text: str = "", base_dir: Path | None = None,
    *, warnings: list[Diagnostic] | None = None,
) -> tuple[spec.Experiment | None, list[Diagnostic]]:
    """Check a loaded (ruamel) document; the Experiment is returned only when all is well.
    Warnings (it runs, but numbers will mislead) are appended to `warnings` when given."""
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else checks_schema.describe(doc)
        return None, [
            Diagnostic(
                file,
                1,
                1,
                "",
                f"the top level must be a mapping of fields "
                f"(apiVersion, kind, metadata, ...), found {kind}",
            )
        ]
    plain = yamlio.to_plain(doc)
    diags = checks_schema.check(doc, plain, file)
    if diags:
        return None, diags
    diags = _read_config(file, doc, plain, base_dir or Path(file).parent)
    if diags:
        return None, diags
    exp = spec.from_document(plain, file, text)
    ctx = Context(file, doc, plain, exp, text)
    for module in CHECKS:
        module.check(ctx)
    unique: dict[tuple[str, str], Diagnostic] = {}
    for d in ctx.diagnostics:
        unique.setdefault((d.path, d.message), d)
    out = sorted(unique.values(), key=lambda d: (d.line, d.column))
    if warnings is not None:
        warnings += sorted({(w.path, w.message): w for w in ctx.warnings}.values(),
                           key=lambda d: (d.line, d.column))
    return (None if out else exp), out


def warnings_for(path: Path) -> list[Diagnostic]:
    """The warnings of a valid experiment file: it runs, but some numbers will mislead
    (e.g. a percentile SLO judged from fewer requests than it needs)."""
    path = Path(path)
    try:
        text = yamlio.read_text(path)
        doc = yamlio.load(path, text)
    except UserError:
        return []
    found: list[Diagnostic] = []
    _, errors = validate_document(doc, str(path), text, path.parent, warnings=found)
    return [] if errors else found


def validate_file(path: Path) -> tuple[spec.Experiment | None, list[Diagnostic]]:
    """Validate one experiment file; never raises for bad input."""
    path = Path(path)
    try:
        text = yamlio.read_text(path)
        doc = yamlio.load(path, text)
    except UserError as exc:
        return None, list(exc.diagnostics)
    return validate_document(doc, str(path), text, path.parent)


def load_experiment(path: Path) -> spec.Experiment:
    """The typed experiment, or a UserError (exit code 2) carrying every diagnostic."""
    exp, diags = validate_file(Path(path))
    if diags or exp is None:
        n = len(diags)
        raise UserError(diags, summary=f"{path}: {n} problem{'s' if n != 1 else ''}")
    return exp
