"""OME's runtime matching, ported so a runtime that OME would refuse is refused before a
trial starts (OME itself only says so in a `RuntimeValidationError` Event while the
trial waits out its startup timeout).

Ported from OME commit 17b77eda (the commit schemas/crds/ome is vendored from):
pkg/runtimeselector/matcher.go (compareSupportedModelFormats, getFormatMismatchReason,
checkModelSize, compare*Versions, parseModelSize), pkg/modelver/util.go (Parse,
CompareVersion) and pkg/hfutil/modelconfig/interface.go (FormatParamCount). Objects are
the CRDs' JSON (camelCase specs), not Go structs: a missing key is Go's nil pointer.
Diffusion pipelines and accelerator classes are not ported: tuneops renders neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Version:
    """pkg/modelver/util.go:23-32."""

    major: int
    prefix: str
    minor: int
    patch: int
    pre: tuple[str, ...]
    build: tuple[str, ...]
    dev: tuple[str, ...]
    precision: int


def _numeric(text: str) -> int:
    # util.go:222-230: digits only, no leading zeroes
    if not text or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise ValueError(text)
    return int(text)


def _meta(text: str) -> tuple[str, ...]:
    parts = tuple(text.split("."))
    if any(not p for p in parts):  # util.go:117-139: empty meta data is an error
        raise ValueError(text)
    return parts


def parse_version(text: str) -> Version:
    """util.go:45-142: `[v]major[.minor[.patch[.dev][-pre][+build]]]`."""
    if not text:
        raise ValueError("empty version")
    parts = text.split(".", 2)  # util.go:51 SplitN(s, ".", 3)
    major_text, prefix = parts[0], ""
    if major_text.startswith("v"):  # util.go:19, 57-62: only "v"
        prefix, major_text = "v", major_text[1:]
    major = _numeric(major_text)
    minor = _numeric(parts[1] if len(parts) > 1 else "0")
    patch_text = parts[2] if len(parts) > 2 else "0"
    build = pre = dev = ()
    if "+" in patch_text:  # util.go:93-96
        patch_text, rest = patch_text.split("+", 1)
        build = _meta(rest)
    if "-" in patch_text:  # util.go:99-102
        patch_text, rest = patch_text.split("-", 1)
        pre = _meta(rest)
    if "." in patch_text:  # util.go:105-108
        patch_text, rest = patch_text.split(".", 1)
        dev = _meta(rest)
    return Version(major, prefix, minor, _numeric(patch_text), pre, build, dev, len(parts))


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def _cmp_slices(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """util.go:212-220: first differing element (string order), else the longer wins."""
    for x, y in zip(a, b, strict=False):
        if x != y:
            return _cmp(x, y)
    return _cmp(len(a), len(b))


def compare_versions(v: Version, o: Version) -> int:
    """util.go:177-199 (CompareVersion)."""
    for x, y in ((v.major, o.major), (v.minor, o.minor), (v.patch, o.patch)):
        if x != y:
            return _cmp(x, y)
    for xs, ys in ((v.pre, o.pre), (v.build, o.build), (v.dev, o.dev)):
        c = _cmp_slices(xs, ys)
        if c:
            return c
    return 0


def versions_compatible(supported: Mapping[str, Any], model: Mapping[str, Any]) -> bool:
    """matcher.go:543-579 (compareModelFormatVersions; 582-618 is the same for frameworks)."""
    try:
        base = parse_version(str(model["version"]))
        wanted = parse_version(str(supported["version"]))
    except ValueError:
        return False  # matcher.go:545-552: an unparsable version never matches
    operator = supported.get("operator") or "Equal"  # matcher.go:646-651
    unofficial = any((v.pre, v.build, v.dev) != ((), (), ()) for v in (base, wanted))
    if unofficial or operator == "Equal":  # matcher.go:561-563
        return compare_versions(wanted, base) == 0
    if base.precision != wanted.precision or base.prefix != wanted.prefix:  # :566-569
        return False
    c = compare_versions(wanted, base)  # note the order: supported first (matcher.go:573)
    return {"GreaterThan": c == 1, "GreaterThanOrEqual": c >= 0}.get(operator, c == 0)


def _field_mismatch(kind: str, model: Mapping | None, runtime: Mapping | None) -> str | None:
    """matcher.go:326-355 (decision) and :410-455 (wording) for modelFormat/modelFramework."""
    if runtime is not None and model is not None:
        if runtime.get("name") != model.get("name"):
            return (f"{kind} name mismatch (model={model.get('name')}, "
                    f"runtime={runtime.get('name')})")
        has_model, has_runtime = model.get("version") is not None, runtime.get(
            "version") is not None
        if has_model and has_runtime:
            if not versions_compatible(runtime, model):
                return (f"{kind} version mismatch (model={model['version']}, "
                        f"runtime={runtime['version']})")
        elif has_model != has_runtime:
            if not has_model:
                return f"model has no {kind} version but runtime requires {runtime['version']}"
            return f"model has {kind} version but runtime has no version requirement"
        return None
    if runtime is None and model is None:
        # matcher.go:337-339: a format entry without modelFormat never matches
        return "runtime declares no modelFormat" if kind == "format" else None
    if model is None:
        return f"model has no {kind} but runtime requires {runtime.get('name')}"
    if kind == "format":
        return "runtime declares no modelFormat"  # matcher.go:337-339
    return f"model has {kind} {model.get('name')} but runtime has no {kind} requirement"


def _scalar_mismatch(kind: str, model: str | None, runtime: str | None) -> str | None:
    """matcher.go:308-323 (decision) and :377-406 (wording): architecture, quantization.
    A field one side declares and the other leaves out is a mismatch."""
    if model is not None and runtime is not None:
        return None if model == runtime else f"{kind} mismatch (model={model}, runtime={runtime})"
    if model is None and runtime is not None:
        return f"model has no {kind} but runtime requires {runtime}"
    if model is not None:
        return f"model has {kind} {model} but runtime has no {kind} requirement"
    return None


def format_mismatches(model: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    """Why one `supportedModelFormats` entry does not serve a BaseModel spec; empty when
    it does (matcher.go:302-358 compareSupportedModelFormats)."""
    found = [
        _scalar_mismatch("architecture", model.get("modelArchitecture"),
                         entry.get("modelArchitecture")),
        _scalar_mismatch("quantization", model.get("quantization"), entry.get("quantization")),
        _field_mismatch("format", model.get("modelFormat"), entry.get("modelFormat")),
        _field_mismatch("framework", model.get("modelFramework"), entry.get("modelFramework")),
    ]
    return [reason for reason in found if reason]


def parse_model_size(text: str) -> float:
    """matcher.go:654-675: `8B`, `1.5T`, `350M`; anything else is 0."""
    multiplier = {"T": 1e12, "B": 1e9, "M": 1e6}.get(text[-1:], 1.0)
    number = text[:-1] if text[-1:] in "TBM" and text else text
    try:
        return float(number) * multiplier
    except ValueError:
        return 0.0


def format_param_count(count: int) -> str:
    """pkg/hfutil/modelconfig/interface.go:170-209: how the model agent writes a size."""
    scale = next(((limit, unit) for limit, unit in
                  ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")) if count >= limit),
                 None)
    if scale is None:
        return str(count)
    value, suffix = count / scale[0], scale[1]
    if value == int(value):
        return f"{int(value)}{suffix}"
    if value * 100 == int(value * 100):
        return f"{value:.1f}{suffix}"
    return f"{value:.2f}{suffix}"


def size_mismatch(runtime: Mapping[str, Any], model: Mapping[str, Any]) -> str | None:
    """matcher.go:621-641 (checkModelSize): only when both sides say something."""
    size, bounds = model.get("modelParameterSize"), runtime.get("modelSizeRange")
    if size is None or bounds is None:
        return None
    low, high = (parse_model_size(str(bounds.get(k, ""))) for k in ("min", "max"))
    if low <= parse_model_size(str(size)) <= high:
        return None
    return (f"model size {size} is outside supported range "
            f"[{bounds.get('min')}, {bounds.get('max')}]")


def runtime_mismatches(runtime: Mapping[str, Any], model: Mapping[str, Any]) -> list[str]:
    """Why a ServingRuntime spec cannot serve a BaseModel spec; empty when OME would pick
    it (matcher.go:29-57 IsCompatible: not disabled, some format entry matches and the
    size is in range)."""
    if runtime.get("disabled"):
        return ["runtime is disabled"]  # matcher.go:31-33
    entries = runtime.get("supportedModelFormats") or []
    reasons = [format_mismatches(model, entry) for entry in entries]
    if not entries:
        return ["no supported formats defined"]  # matcher.go:104-106
    if any(not r for r in reasons):
        size = size_mismatch(runtime, model)
        return [size] if size else []
    return [f"supportedModelFormats[{i}]: {', '.join(r)}" for i, r in enumerate(reasons)]

