"""Command line of the simulator: SGLang's own flags (from the flag catalog) plus a few of ours.

The parser is generated from ``schemas/catalogs/sglang.json`` so the simulator accepts
exactly what the real server accepts and rejects the rest the same way (argparse: exit 2 and
a message). Most flags are accepted and ignored; ``settings`` picks those that change
performance.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from tuneops.engines.sim import profiles
from tuneops.engines.sim.perfmodel import PerfModel, Settings

# tuneops' root: the repository, or site-packages/tuneops once installed (same layout).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
CATALOG_ENV = "TUNEOPS_SIM_CATALOG"


def catalog_path() -> Path:
    env = os.environ.get(CATALOG_ENV)
    return Path(env) if env else PACKAGE_ROOT / "schemas" / "catalogs" / "sglang.json"


def _json_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON value: {text!r} ({exc.msg})") from None


def _bool_value(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid bool value: {text!r}")


def _size_value(sizes: dict[str, int], decimals: list[str]):
    """An int, or a size such as 8k with the suffixes the real parser takes (the catalog
    records them: SGLang's 1M is 10**6, its 1Mi 2**20)."""

    def parse(text: str) -> int:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text.strip())
        if match and match[2] in sizes and ("." not in match[1] or match[2] in decimals):
            return int(float(match[1]) * sizes[match[2]])
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid size: {text!r}") from None

    parse.__name__ = "size"
    return parse


_json_value.__name__ = "json"
_bool_value.__name__ = "bool"
TYPES = {"int": int, "float": float, "str": str, "json": _json_value, "bool": _bool_value}

SIM_FLAGS = {  # flag -> add_argument kwargs; only added when the catalog lacks the name
    "gpu-type": dict(default="H100", choices=profiles.gpu_names(),
                     help="simulated GPU profile (engines/sim/data/gpus.json)"),
    "seed": dict(type=int, default=None, help="seed for generated text (default --random-seed)"),
    "time-scale": dict(type=float, default=1.0, help="multiplies start-up time only"),
    "sim-model": dict(default=None, choices=profiles.model_names(),
                      help="model profile (default: guessed from --model-path)"),
}
REQUIRED = {"model-path": dict(required=True), "host": dict(default="127.0.0.1"),
            "port": dict(type=int, default=30000)}


def build_parser(catalog: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tuneops.engines.sim",
        description="Simulated SGLang server (tuneops): no GPU, results are not measurements.",
    )
    taken: set[str] = set()
    for name, spec in sorted(catalog["flags"].items()):
        options = [f"--{name}"]
        for alias in spec.get("aliases") or []:
            opt = alias if alias.startswith("-") else f"--{alias}"
            if opt not in options and opt not in taken:
                options.append(opt)
        options = [o for o in options if o not in taken]
        if not options:
            continue
        taken.update(options)
        kwargs: dict = {"dest": name.replace("-", "_"), "default": spec.get("default"),
                        "help": (spec.get("help") or "").replace("%", "%%")}
        if spec.get("action") == "boolean_optional":
            kwargs["action"] = argparse.BooleanOptionalAction  # adds the --no-X spellings
        elif spec.get("boolean"):
            kwargs["action"] = "store_true"
        elif (spec.get("type") or "").startswith("int-or-size"):
            kwargs["type"] = _size_value(spec.get("sizes") or {}, spec.get("size_decimals") or [])
        else:
            kwargs["type"] = TYPES.get(spec.get("type") or "str", str)
            if spec.get("choices"):
                kwargs["choices"] = spec["choices"]
            if spec.get("nargs") is not None:
                kwargs["nargs"] = spec["nargs"]
        if name in REQUIRED and "required" in REQUIRED[name]:
            kwargs["required"] = True
        parser.add_argument(*options, **kwargs)
    for name, kwargs in {**REQUIRED, **SIM_FLAGS}.items():
        if f"--{name}" not in taken:
            parser.add_argument(f"--{name}", dest=name.replace("-", "_"), **kwargs)
    return parser


def load_catalog(path: Path | None = None) -> dict:
    path = path or catalog_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(
            f"tuneops.engines.sim: flag catalog {path} not found; generate it (make catalogs) "
            f"or point "
            f"{CATALOG_ENV} at one") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser(load_catalog()).parse_args(argv)


def _get(ns: argparse.Namespace, name: str, default=None):
    value = getattr(ns, name, None)
    return default if value is None else value


def _cuda_graph_max_bs(ns: argparse.Namespace) -> int | None:
    """The largest decode batch replayed from a CUDA graph: the only graphs the model prices.

    SGLang 0.5.23 splits the flag per phase (``--cuda-graph-max-bs-decode`` and ``-prefill``
    in schemas/catalogs/sglang.json; the plain ``--cuda-graph-max-bs`` is then an ambiguous
    prefix that argparse rejects). Older catalogs, and the tests' stand-in, have the plain one.
    """
    return _get(ns, "cuda_graph_max_bs_decode", _get(ns, "cuda_graph_max_bs"))


def settings(ns: argparse.Namespace) -> Settings:
    """The performance-relevant subset of the parsed flags, SGLang defaults filled in."""
    return Settings(
        tp=int(_get(ns, "tp_size", 1)),
        dp=int(_get(ns, "dp_size", 1)),
        mem_fraction_static=_get(ns, "mem_fraction_static"),
        max_total_tokens=_get(ns, "max_total_tokens"),
        max_running_requests=_get(ns, "max_running_requests"),
        chunked_prefill_size=_get(ns, "chunked_prefill_size"),
        max_prefill_tokens=int(_get(ns, "max_prefill_tokens", 16384)),
        schedule_policy=str(_get(ns, "schedule_policy", "fcfs")),
        schedule_conservativeness=float(_get(ns, "schedule_conservativeness", 1.0)),
        disable_cuda_graph=bool(_get(ns, "disable_cuda_graph", False)
                                or _get(ns, "disable_decode_cuda_graph", False)),
        cuda_graph_max_bs=_cuda_graph_max_bs(ns),
        enable_torch_compile=bool(_get(ns, "enable_torch_compile", False)),
        torch_compile_max_bs=int(_get(ns, "torch_compile_max_bs", 32)),
        enable_mixed_chunk=bool(_get(ns, "enable_mixed_chunk", False)),
        kv_cache_dtype=str(_get(ns, "kv_cache_dtype", "auto")),
        quantization=_get(ns, "quantization"),
        context_length=_get(ns, "context_length"),
        stream_interval=max(1, int(_get(ns, "stream_interval", 1))),
    )


def model_name(ns: argparse.Namespace) -> tuple[str, bool]:
    """(profile name, whether it was guessed by default)."""
    if ns.sim_model:
        return ns.sim_model, False
    guess = profiles.guess_model(ns.model_path)
    return (guess, False) if guess else (profiles.DEFAULT_MODEL, True)


def perf_model(ns: argparse.Namespace) -> PerfModel:
    return PerfModel(profiles.gpu(ns.gpu_type), profiles.model(model_name(ns)[0]), settings(ns))


def perf_model_from_argv(argv: list[str]) -> PerfModel:
    """The model a server started with ``argv`` would use: the tests' prediction hook."""
    return perf_model(parse_args(argv))
