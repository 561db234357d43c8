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
    checks_gpus,
    checks_schema,
    checks_secrets,
    checks_space,
    checks_workloads,
    spec,
    yamlio,
)
from tuneops.checks_base import Context
from tuneops.errors import Diagnostic, UserError

CONFIG_MAX_BYTES = 1_000_000
CONFIG_MAX_INT_BITS = 48  # far above any real model dimension; keeps the arithmetic small


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise ValueError(f"integer with {len(text.lstrip('-'))} digits")
    return int(text)


def _no_constant(text: str) -> None:
    raise ValueError(f"{text} is not a finite number")


def _json_problem(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc) if isinstance(exc, ValueError) and str(exc) else type(exc).__name__


def _positive_int(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool)
        and 0 < value < 2**CONFIG_MAX_INT_BITS
    )


CHECKS = (checks_flags, checks_benchmark, checks_workloads, checks_space, checks_feasibility,
          checks_gpus,
          checks_secrets, checks_cpus)


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
        data = yamlio.read_bounded(path, CONFIG_MAX_BYTES, repr(rel))
    except OSError as exc:
        return fail(
            f"cannot read {rel!r}: {exc.strerror or exc}",
            "the path is relative to the experiment file",
        )
    except ValueError as exc:
        return fail(str(exc), "a config.json is a small JSON file")
    try:
        config = json.loads(data, parse_int=_bounded_int, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return fail(f"{rel!r} is not valid JSON ({_json_problem(exc)})")
    if not isinstance(config, dict):
        return fail(f"{rel!r} is not a Hugging Face model config (not a JSON object)")
    missing = [k for k in spec.HF_CONFIG_REQUIRED if k not in config]
    if missing:
        return fail(
            f"{rel!r} is not a Hugging Face model config (missing {', '.join(missing)})",
            "needs num_hidden_layers, hidden_size, num_attention_heads",
        )
    bad = [
        k
        for k in (*spec.HF_CONFIG_REQUIRED, *spec.HF_CONFIG_OPTIONAL)
        if k in config and not _positive_int(config[k])
    ]
    if bad:
        return fail(
            f"{rel!r} has unusable values for {', '.join(bad)}",
            f"expected positive integers below 2**{CONFIG_MAX_INT_BITS}",
        )
    try:
        arch = spec.architecture_from_hf_config(config)
    except ZeroDivisionError:
        return fail(f"{rel!r} has unusable values for hidden_size, num_attention_heads")
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


def validate_file(
    path: Path, warnings: list[Diagnostic] | None = None
) -> tuple[spec.Experiment | None, list[Diagnostic]]:
    """Validate one experiment file (read and parsed once); never raises for bad input.

    A valid file's warnings (it runs, but some numbers will mislead, e.g. a percentile SLO
    judged from fewer requests than it needs) are appended to `warnings`."""
    path = Path(path)
    try:
        text = yamlio.read_text(path)
        doc = yamlio.load(path, text)
    except UserError as exc:
        return None, list(exc.diagnostics)
    found: list[Diagnostic] = []
    exp, errors = validate_document(doc, str(path), text, path.parent, warnings=found)
    if warnings is not None and not errors:
        warnings.extend(found)
    return exp, errors


def warnings_for(path: Path) -> list[Diagnostic]:
    """The warnings of a valid experiment file ([] for an invalid one)."""
    found: list[Diagnostic] = []
    validate_file(path, warnings=found)
    return found


def load_experiment(path: Path) -> spec.Experiment:
    """The typed experiment, or a UserError (exit code 2) carrying every diagnostic."""
    exp, diags = validate_file(Path(path))
    if diags or exp is None:
        n = len(diags)
        raise UserError(diags, summary=f"{path}: {n} problem{'s' if n != 1 else ''}")
    return exp


def shared_names(exps: list[spec.Experiment]) -> list[Diagnostic]:
    """One diagnostic per experiment whose metadata.name an earlier one already has.

    The name is the experiment's folder under manifests/, runs/ and reports/: two files with
    one name would render into one folder, the second deleting the first one's trials as
    stale (and `render --check` failing for good)."""
    first: dict[str, str] = {}
    out = []
    for exp in exps:
        if exp.name not in first:
            first[exp.name] = exp.source_file
            continue
        if Path(first[exp.name]).resolve() == Path(exp.source_file).resolve():
            continue  # the same file named twice
        line, col = 0, 0
        try:
            path = Path(exp.source_file)
            line, col = yamlio.position(yamlio.load(path, yamlio.read_text(path)),
                                        ("metadata", "name"))
        except (UserError, OSError):
            pass  # the file changed since it was validated: name it without a position
        out.append(Diagnostic(
            exp.source_file, line, col, "metadata.name",
            f"{exp.name!r} is already the name of {first[exp.name]}",
            "each experiment needs its own name: it names its manifests/, runs/ and "
            "reports/ folders",
        ))
    return out


def experiment_files(folder: Path = Path("experiments")) -> list[Path]:
    """Every experiment file under `folder`: `.yaml` and `.yml` alike, sorted."""
    return sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")])
