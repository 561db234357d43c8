"""Stand-in modules for torch, triton and the GPU kernel packages.

The engines' argument parsers are plain argparse, but the modules that define them import
torch and GPU packages at load time. A stand-in answers what those imports touch: any
attribute is another stand-in (a class, so it can be subclassed, annotated with and
called), `torch.cuda.is_available()` is false, versions are strings. Nothing real runs, so
nothing here may be relied on beyond building the parser.

Used only inside the parser venvs (scripts/catalogs/venvs.py), by realparser.py.
"""

from __future__ import annotations

import abc
import functools
import importlib.abc
import importlib.machinery
import sys
import types

# Top-level packages replaced wholesale (present or not in the venv).
STANDIN_PACKAGES = (
    "torch", "triton", "sgl_kernel", "flashinfer",
    "flash_attn", "vllm_flash_attn", "deep_gemm", "deep_ep", "cuda", "pynvml",
    "nvidia", "xformers", "intel_extension_for_pytorch", "torch_npu", "habana_frameworks",
    "torch_musa", "amdsmi", "mooncake", "nixl", "torch_xla", "tpu_info", "decord",
    "vllm._C", "vllm._moe_C", "vllm.cumem_allocator", "vllm._flashmla_C",
    "vllm.vllm_flash_attn", "vllm.ir", "sglang.srt.layers.quantization.deep_gemm_wrapper",
)

# Answers that must not be a stand-in (falsy, or a real value).
FIXED = {
    "torch.__version__": "2.9.0",
    "torch.version.__version__": "2.9.0",
    "torch.version.cuda": None,
    "torch.version.hip": None,
    "torch.version.git_version": "0",
    "torch.cuda.is_available": lambda *a, **k: False,
    "torch.cuda.device_count": lambda *a, **k: 0,
    "torch.cuda.is_initialized": lambda *a, **k: False,
    "torch.backends.mps.is_available": lambda *a, **k: False,
    "torch.xpu.is_available": lambda *a, **k: False,
    "torch.npu.is_available": lambda *a, **k: False,
    "torch.distributed.is_available": lambda *a, **k: False,
    "torch.distributed.is_initialized": lambda *a, **k: False,
    "torch._dynamo.is_compiling": lambda *a, **k: False,
    "torch.compiler.is_compiling": lambda *a, **k: False,
    "torch.library.infer_schema": lambda *a, **k: "(Tensor x) -> Tensor",
    "triton.__version__": "3.5.0",
    "pynvml.__version__": "12.0.0",
}


# Attributes the stand-ins do not have (platform probes use hasattr: `hasattr(torch, "npu")`).
ABSENT = {"torch.npu", "torch.hpu", "torch.musa", "torch.version.musa", "torch.mlu"}


class _Meta(abc.ABCMeta):
    """Every stand-in is a class of this metaclass."""

    def __getattr__(cls, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if f"{cls.__qualname__}.{name}" in ABSENT:
            raise AttributeError(name)
        return standin(f"{cls.__qualname__}.{name}")

    def __call__(cls, *args, **kwargs):
        # Used as a decorator (`@torch.compile`, `@triton.jit`): give the function back.
        if len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], _Meta):
            return args[0]
        return standin(f"{cls.__qualname__}()")

    def __bool__(cls) -> bool:
        return False

    def __iter__(cls):
        return iter(())

    def __len__(cls) -> int:
        return 0

    def __int__(cls) -> int:
        return 0

    def __index__(cls) -> int:
        return 0

    def __float__(cls) -> float:
        return 0.0

    def __getitem__(cls, item):
        return cls

    def __setitem__(cls, item, value) -> None:
        pass

    def __delitem__(cls, item) -> None:
        pass

    def __or__(cls, other):
        return cls

    __ror__ = __or__

    def __lt__(cls, other) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __eq__(cls, other) -> bool:
        return cls is other

    def __hash__(cls) -> int:
        return id(cls)

    def __enter__(cls):
        return cls

    def __exit__(cls, *exc) -> bool:
        return False

    def __mro_entries__(cls, bases):
        return (object,)

    def __contains__(cls, item) -> bool:
        return False


def _same(cls, *args):
    return cls


# Arithmetic on a stand-in (`-finfo.max`, `x * 2`) gives the stand-in back.
for _op in ("neg", "pos", "abs", "invert", "add", "radd", "sub", "rsub", "mul", "rmul",
            "truediv", "rtruediv", "floordiv", "rfloordiv", "mod", "rmod", "pow", "rpow",
            "and", "rand", "xor", "rxor", "lshift", "rshift", "matmul"):
    setattr(_Meta, f"__{_op}__", _same)


@functools.cache
def standin(qualname: str):
    """One stand-in per dotted name, so two reads of the same thing compare equal."""
    if qualname in FIXED:
        return FIXED[qualname]
    return _Meta(qualname.rpartition(".")[2] or qualname, (), {"__qualname__": qualname,
                                                              "__module__": "standin"})


class _Module(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        full = f"{self.__name__}.{name}"
        if full in ABSENT:
            raise AttributeError(name)
        sub = sys.modules.get(full)
        if sub is not None:
            return sub
        value = standin(full)
        setattr(self, name, value)
        return value


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _Module(spec.name)
        module.__path__ = []  # a package: submodules import too
        for key, value in FIXED.items():
            owner, _, attr = key.rpartition(".")
            if owner == spec.name:
                setattr(module, attr, value)
        return module

    def exec_module(self, module) -> None:
        module.__spec__.submodule_search_locations = []


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == p or fullname.startswith(p + ".") for p in STANDIN_PACKAGES):
            return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)
        return None


def install() -> None:
    """Put the stand-ins ahead of every real package (the real torch, if any, is shadowed)."""
    sys.meta_path.insert(0, _Finder())
