"""The llama-server flags the xllamacpp launcher understands, and where each one lands.

xllamacpp embeds llama.cpp's server but not its command-line parser, so the launcher parses
llama-server's own flag names itself and copies the values onto ``xllamacpp.CommonParams``.
This table is that mapping, written once: the parser, the flag catalog
(``schemas/catalogs/llamacpp.json``) and the tests all read it. Only flags with a
``CommonParams`` field in the installed xllamacpp are here; ``--mlock``/``--no-mmap`` became
``--load-mode`` and ``--defrag-thold`` is a deprecated no-op in this llama.cpp, so they are not.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# llama.cpp's kv_cache_types (common/arg.cpp): the only types --cache-type-k/-v accept.
CACHE_TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]
FLASH_ATTN = {"on": "ENABLED", "off": "DISABLED", "auto": "AUTO"}
LOAD_MODES = {"auto": "AUTO", "none": "NONE", "mmap": "MMAP", "mlock": "MLOCK",
              "mmap+mlock": "MMAP_MLOCK", "dio": "DIRECT_IO"}


def _int(lo: int | None = None, hi: int | None = None, also: tuple[int, ...] = ()):
    """An argparse type: an integer in [lo, hi] (or one of ``also``), else a usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value in also or ((lo is None or value >= lo) and (hi is None or value <= hi)):
            return value
        span = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        extra = "".join(f" or {v}" for v in also)
        raise argparse.ArgumentTypeError(f"{value} is out of range ({span}{extra})")
    parse.__name__ = "int"
    return parse


def _float(lo: float, hi: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is out of range ({lo}..{hi})")
        return value
    parse.__name__ = "float"
    return parse


def _set(attr: str) -> Callable[[Any, Any, Any], None]:
    """Setter for a dotted CommonParams attribute, e.g. ``cpuparams.n_threads``."""
    *parents, leaf = attr.split(".")

    def apply(params, value, _x) -> None:
        target = params
        for name in parents:
            target = getattr(target, name)
        setattr(target, leaf, value)
    return apply


def _enum(attr: str, enum: str, prefix: str, table: dict[str, str] | None = None):
    def apply(params, value, x) -> None:
        member = (table[value] if table else value.upper())
        setattr(params, attr, getattr(getattr(x, enum), prefix + member))
    return apply


def _const(attr: str, value: Any):
    return lambda params, _value, x: _set(attr)(params, value, x)


@dataclass(frozen=True)
class Flag:
    name: str                      # long name without dashes (catalog key)
    type: str                      # catalog type: int, float, str, bool
    help: str
    field: str                     # the CommonParams field it sets (documentation + tests)
    apply: Callable[[Any, Any, Any], None]
    aliases: tuple[str, ...] = ()  # other spellings, with their dashes
    default: Any = None
    choices: list[str] | None = None
    parse: Callable[[str], Any] | None = None
    required: bool = False
    dest: str = ""                 # shared argparse dest for --x / --no-x pairs

    @property
    def boolean(self) -> bool:
        return self.type == "bool"

    @property
    def key(self) -> str:
        return self.dest or self.name.replace("-", "_")


FLAGS: list[Flag] = [
    Flag("model", "str", "path to the GGUF model file", "model.path", _set("model.path"),
         ("-m",), required=True),
    Flag("host", "str", "address to listen on", "hostnames",
         lambda p, v, _x: setattr(p, "hostnames", [v]), default="127.0.0.1"),
    Flag("port", "int", "port to listen on", "port", _set("port"), default=8080,
         parse=_int(0, 65535)),
    Flag("alias", "str", "model name(s) the API answers to, comma-separated", "model_alias",
         lambda p, v, _x: setattr(p, "model_alias", {a for a in v.split(",") if a}), ("-a",)),
    Flag("parallel", "int", "number of server slots (-1 = auto)", "n_parallel",
         _set("n_parallel"), ("-np",), default=-1, parse=_int(1, also=(-1,))),
    Flag("ctx-size", "int", "total context size in tokens, shared by the slots (0 = from model)",
         "n_ctx", _set("n_ctx"), ("-c",), default=0, parse=_int(0)),
    Flag("batch-size", "int", "logical maximum batch size", "n_batch", _set("n_batch"),
         ("-b",), default=2048, parse=_int(1)),
    Flag("ubatch-size", "int", "physical maximum batch size", "n_ubatch", _set("n_ubatch"),
         ("-ub",), default=512, parse=_int(1)),
    Flag("threads", "int", "CPU threads for generation (-1 = auto)", "cpuparams.n_threads",
         _set("cpuparams.n_threads"), ("-t",), default=-1, parse=_int(1, also=(-1,))),
    Flag("threads-batch", "int", "CPU threads for prompt processing (-1 = same as --threads)",
         "cpuparams_batch.n_threads", _set("cpuparams_batch.n_threads"), ("-tb",), default=-1,
         parse=_int(1, also=(-1,))),
    Flag("threads-http", "int", "threads serving HTTP requests (-1 = auto)", "n_threads_http",
         _set("n_threads_http"), default=-1, parse=_int(1, also=(-1,))),
    Flag("poll", "int", "busy-wait level of generation threads waiting for work (0-100)",
         "cpuparams.poll", _set("cpuparams.poll"), default=50, parse=_int(0, 100)),
    Flag("poll-batch", "int", "busy-wait level of prompt-processing threads (0-100)",
         "cpuparams_batch.poll", _set("cpuparams_batch.poll"), default=50, parse=_int(0, 100)),
    Flag("cache-type-k", "str", "KV cache data type for K", "cache_type_k",
         _enum("cache_type_k", "ggml_type", "GGML_TYPE_"), ("-ctk",), default="f16",
         choices=CACHE_TYPES),
    Flag("cache-type-v", "str", "KV cache data type for V (quantized needs flash attention)",
         "cache_type_v", _enum("cache_type_v", "ggml_type", "GGML_TYPE_"), ("-ctv",),
         default="f16", choices=CACHE_TYPES),
    Flag("flash-attn", "str", "flash attention: on, off or auto", "flash_attn_type",
         _enum("flash_attn_type", "llama_flash_attn_type", "LLAMA_FLASH_ATTN_TYPE_", FLASH_ATTN),
         ("-fa",), default="auto", choices=list(FLASH_ATTN)),
    Flag("cont-batching", "bool", "continuous batching (on by default)", "cont_batching",
         _const("cont_batching", True), ("-cb",), default=False, dest="cont_batching"),
    Flag("no-cont-batching", "bool", "disable continuous batching", "cont_batching",
         _const("cont_batching", False), ("-nocb",), default=False, dest="cont_batching"),
    Flag("kv-unified", "bool", "one KV buffer shared by all slots", "kv_unified",
         _const("kv_unified", True), default=False, dest="kv_unified"),
    Flag("no-kv-unified", "bool", "a separate KV buffer per slot", "kv_unified",
         _const("kv_unified", False), ("-no-kvu",), default=False, dest="kv_unified"),
    Flag("cache-reuse", "int", "min chunk size to reuse from the cache via KV shifting (0 = off)",
         "n_cache_reuse", _set("n_cache_reuse"), default=0, parse=_int(0)),
    Flag("cache-ram", "int", "max prompt-cache size in MiB (-1 = no limit, 0 = off)",
         "cache_ram_mib", _set("cache_ram_mib"), ("-cram",), default=8192,
         parse=_int(0, also=(-1,))),
    Flag("no-cache-prompt", "bool", "do not reuse the KV cache of a previous request",
         "cache_prompt", _const("cache_prompt", False), default=False),
    Flag("slot-prompt-similarity", "float",
         "how closely a prompt must match a slot's to reuse it (0 = off)",
         "slot_prompt_similarity", _set("slot_prompt_similarity"), ("-sps",), default=0.1,
         parse=_float(0.0, 1.0)),
    Flag("load-mode", "str", "model loading: auto, none, mmap, mlock, mmap+mlock or dio",
         "load_mode", _enum("load_mode", "llama_load_mode", "LLAMA_LOAD_MODE_", LOAD_MODES),
         default="auto", choices=list(LOAD_MODES)),
    Flag("n-predict", "int", "max tokens to generate per request (-1 = unlimited)", "n_predict",
         _set("n_predict"), ("-n", "--predict"), default=-1, parse=_int(-1)),
    Flag("seed", "int", "sampling seed (-1 = random)", "sampling.seed",
         lambda p, v, x: setattr(p.sampling, "seed", x.LLAMA_DEFAULT_SEED if v == -1 else v),
         ("-s",), default=-1, parse=_int(-1, 2**32 - 1)),
    Flag("ignore-eos", "bool", "keep generating after end-of-sequence tokens",
         "sampling.ignore_eos", _const("sampling.ignore_eos", True), default=False),
    Flag("no-warmup", "bool", "skip the empty warm-up run at start", "warmup",
         _const("warmup", False), default=False),
    Flag("metrics", "bool", "serve Prometheus metrics at /metrics", "endpoint_metrics",
         _const("endpoint_metrics", True), default=False),
    Flag("verbosity", "int", "log verbosity (higher = more)", "verbosity", _set("verbosity"),
         ("-lv", "--log-verbosity"), default=3, parse=_int(0)),
]


class _Parser(argparse.ArgumentParser):
    """argparse's contract (exit 2) with a one-line message: the runner shows stderr's tail."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parser(prog: str = "python -m tuneops.engines.llamacpp") -> argparse.ArgumentParser:
    """An argparse parser that takes llama-server's spellings and rejects anything else."""
    p = _Parser(prog=prog, allow_abbrev=False,
                description="llama.cpp's server (xllamacpp) with llama-server's flags")
    for f in FLAGS:
        names = [f"--{f.name}", *f.aliases]
        if f.boolean:
            p.add_argument(*names, dest=f.key, action="store_const", const=f.name,
                           default=None, help=f.help)
        else:
            p.add_argument(*names, dest=f.key, type=f.parse or str, choices=f.choices,
                           required=f.required, default=None, help=f.help)
    return p


def apply(args: argparse.Namespace, params, x) -> list[str]:
    """Copy every given flag onto ``params`` (a CommonParams); returns the fields set.

    Flags left out keep the launcher's defaults, which are llama-server's (set first).
    """
    given = vars(args)
    touched = []
    for f in FLAGS:
        value = given.get(f.key)
        if f.boolean:
            if value != f.name:
                continue
        elif value is None:
            if f.default is None:
                continue
            value = f.default
        f.apply(params, value, x)
        touched.append(f.field)
    return touched
