"""vLLM's `vllm serve` flags, read from the wheel's source without importing vLLM.

`make_arg_parser` (vllm/entrypoints/common/cli_args.py) registers a few flags itself, then
`FrontendArgs.add_cli_args` (one flag per field of the frontend dataclass) and
`AsyncEngineArgs.add_cli_args` -> `EngineArgs.add_cli_args` (vllm/engine/arg_utils.py). The
engine registers most flags as `group.add_argument("--x", **get_kwargs(SomeConfig)["x"])`,
where `get_kwargs` derives argparse keywords from the config dataclass's annotations.

This module interprets those function bodies over abstract values: `get_kwargs(C)` is
recomputed from C's annotations with the rules of vLLM's `_compute_kwargs`, the dictionaries
are mutated as the code mutates them (`kw["x"]["type"] = json.loads`, `del`, `.remove`), and
every `add_argument` call becomes a flag. Branches are all taken (a flag registered under any
condition is a real flag).
"""

from __future__ import annotations

import ast
import copy

from .common import (
    UNKNOWN,
    ClassRef,
    FlagSpec,
    FuncRef,
    Hint,
    Mark,
    Module,
    Source,
    abstract_kwarg,
    add_argument_names,
    class_bases,
    class_fields,
    evaluate,
    field_default,
    hints,
    is_add_argument,
    mro_names,
    qualname,
    spec_from_kwargs,
)

FRONTEND_MODULES = ("vllm.entrypoints.common.cli_args", "vllm.entrypoints.openai.cli_args")
ENTRY = "make_arg_parser"
NONE = Hint("builtin", "None")


def flags(source: Source) -> tuple[list[FlagSpec], str]:
    """Flags of `vllm serve`, and the file whose `make_arg_parser` was read."""
    for name in FRONTEND_MODULES:
        module = source.module(name)
        if module is not None and ENTRY in module.defs:
            break
    else:
        raise LookupError(f"{ENTRY} not found in {FRONTEND_MODULES}")
    interp = Interpreter()
    interp.run(FuncRef(module, module.defs[ENTRY]), None)
    return interp.flags, module.path


# --------------------------------------------------------------------------- get_kwargs


def _is(hs: frozenset[Hint], name: str) -> bool:
    return any(h.name == name and h.kind in ("builtin", "generic") for h in hs)


def _is_dataclass(h: Hint) -> bool:
    if h.kind != "class" or h.ref is None:
        return False
    for deco in h.ref.node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = qualname(target, h.ref.module) or ""
        if name.endswith(("dataclass", "vllm.config.utils.config")):
            return True
    return False


def _is_dict_subclass(h: Hint) -> bool:
    if h.kind != "class" or h.ref is None:
        return False
    names = mro_names(h.ref)
    return not any(n.endswith("TypedDict") for n in names) and any(
        n in ("dict", "builtins.dict") or n.startswith("dict[") for n in names)


def _mark(h: Hint | None) -> Mark:
    if h is not None and h.kind == "builtin" and h.name in ("int", "float", "str"):
        return Mark(h.name)
    return Mark("str")


def _sorted(values: tuple) -> list:
    try:
        return sorted(values)
    except TypeError:
        return list(values)


def _literal_kwargs(hs: frozenset[Hint]) -> dict:
    lit = next(h for h in hs if h.kind == "literal")
    options = lit.values
    kw: dict = {"type": _mark(Hint("builtin", type(options[0]).__name__)) if options
                else Mark("str")}
    if not _is(hs, "str"):  # with `| str` vLLM shows the options as a metavar only
        kw["choices"] = _sorted(options)
    return kw


def _collection_kwargs(hs: frozenset[Hint], name: str) -> dict:
    h = next(h for h in hs if h.name == name)
    args = list(h.args)
    elem = args[0] if args else frozenset({Hint("builtin", "str")})
    kw: dict = {"nargs": "+" if name != "tuple" or any(
        x.kind == "ellipsis" for a in args for x in a) else len(args)}
    members = [x for x in elem if x != NONE] if len(elem) > 1 else list(elem)
    one = members[0] if len(members) == 1 else None
    if one is not None and one.kind == "literal":
        kw.update(_literal_kwargs(frozenset({one})))
    else:
        kw["type"] = _mark(one)
    return kw


def compute_kwargs(cls: ClassRef) -> dict[str, dict]:
    """argparse keywords per field, the way vLLM's `get_kwargs(cls)` derives them."""
    out: dict[str, dict] = {}
    for decl in class_fields(cls):
        hs = frozenset(Hint("builtin", "dict") if _is_dict_subclass(h) else h
                       for h in hints(decl.annotation, decl.module))
        default = field_default(decl)
        kw: dict = {"default": None if default is UNKNOWN else default, "help": decl.doc.strip()}
        if any(_is_dataclass(h) for h in hs):
            kw["type"] = Mark("json")
        elif hs == {Hint("builtin", "bool"), Hint("builtin", "str"), NONE}:
            kw.update(type=Mark("str"), nargs="?", const=True)
        elif _is(hs, "bool"):
            kw["action"] = Mark("boolean_optional")
        elif any(h.kind == "literal" for h in hs):
            kw.update(_literal_kwargs(hs))
        elif _is(hs, "tuple"):
            kw.update(_collection_kwargs(hs, "tuple"))
        elif _is(hs, "list"):
            kw.update(_collection_kwargs(hs, "list"))
        elif _is(hs, "set"):
            kw.update(_collection_kwargs(hs, "set"))
        elif _is(hs, "int"):
            kw["type"] = Mark("int")
        elif _is(hs, "float"):
            kw["type"] = Mark("float")
        elif _is(hs, "dict"):
            kw["type"] = Mark("json")
        else:
            kw["type"] = Mark("str")
        out[decl.name] = kw
    return out


# --------------------------------------------------------------------------- interpreter


class Interpreter:
    """Runs the statements of argument-registering functions over abstract values."""

    def __init__(self) -> None:
        self.flags: list[FlagSpec] = []
        self._depth = 0

    def run(self, fn: FuncRef, cls: ClassRef | None, env: dict | None = None) -> None:
        if self._depth > 8:
            return
        self._depth += 1
        self._block(fn.node.body, fn.module, cls, dict(env or {}))
        self._depth -= 1

    # statements ------------------------------------------------------------------
    def _block(self, body: list[ast.stmt], mod: Module, cls: ClassRef | None, env: dict) -> None:
        for stmt in body:
            self._stmt(stmt, mod, cls, env)

    def _stmt(self, stmt: ast.stmt, mod: Module, cls: ClassRef | None, env: dict) -> None:
        if isinstance(stmt, ast.Assign):
            value = self._expr(stmt.value, mod, cls, env)
            for target in stmt.targets:
                self._assign(target, stmt.value, value, mod, cls, env)
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
            container, key = self._slot(stmt.target, mod, cls, env)
            if isinstance(container, dict) and isinstance(container.get(key), str):
                extra = abstract_kwarg(str(key), stmt.value, mod, env)
                if isinstance(extra, str):
                    container[key] = container[key] + extra
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                container, key = self._slot(target, mod, cls, env)
                if isinstance(container, dict):
                    container.pop(key, None)
        elif isinstance(stmt, ast.Expr):
            self._expr(stmt.value, mod, cls, env)
        elif isinstance(stmt, ast.For):
            self._for(stmt, mod, cls, env)
        elif isinstance(stmt, (ast.If, ast.With, ast.Try)):
            for block in ("body", "orelse", "finalbody"):
                self._block(getattr(stmt, block, []), mod, cls, env)
            for handler in getattr(stmt, "handlers", []):
                self._block(handler.body, mod, cls, env)

    def _assign(self, target, node, value, mod, cls, env) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, ast.Subscript):
            container, key = self._slot(target, mod, cls, env)
            if isinstance(container, dict) and key is not UNKNOWN:
                container[key] = abstract_kwarg(str(key), node, mod, env)

    def _slot(self, target: ast.expr, mod, cls, env) -> tuple[object, object]:
        if not isinstance(target, ast.Subscript):
            return None, None
        return self._expr(target.value, mod, cls, env), evaluate(target.slice, mod, env)

    def _for(self, stmt: ast.For, mod, cls, env) -> None:
        """`for key, value in kwargs.items(): ...add_argument(...)` over a known dict."""
        it = stmt.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)
                and it.func.attr == "items" and isinstance(stmt.target, ast.Tuple)):
            return
        table = self._expr(it.func.value, mod, cls, env)
        if not isinstance(table, dict):
            return
        k_name, v_name = (e.id if isinstance(e, ast.Name) else "_" for e in stmt.target.elts)
        for key, value in list(table.items()):
            self._block(stmt.body, mod, cls, {**env, k_name: key, v_name: value})

    # expressions -----------------------------------------------------------------
    def _expr(self, node: ast.expr, mod: Module, cls: ClassRef | None, env: dict) -> object:
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        if isinstance(node, ast.Subscript):
            base = self._expr(node.value, mod, cls, env)
            key = evaluate(node.slice, mod, env)
            return base.get(key, UNKNOWN) if isinstance(base, dict) else UNKNOWN
        if isinstance(node, ast.Dict):
            out: dict = {}
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:
                    inner = self._expr(v, mod, cls, env)
                    if isinstance(inner, dict):
                        out.update(inner)
                else:
                    key = evaluate(k, mod, env)
                    out[key] = abstract_kwarg(str(key), v, mod, env)
            return out
        if isinstance(node, ast.Call):
            return self._call(node, mod, cls, env)
        return evaluate(node, mod, {k: v for k, v in env.items()})

    def _call(self, node: ast.Call, mod: Module, cls: ClassRef | None, env: dict) -> object:
        func = node.func
        if is_add_argument(node):
            self._add_argument(node, mod, cls, env)
            return None
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "get_kwargs" and node.args:
            target = self._class(node.args[0], mod, cls, env)
            return copy.deepcopy(compute_kwargs(target)) if target else UNKNOWN
        if isinstance(func, ast.Attribute):
            owner = self._expr(func.value, mod, cls, env) if not _is_super(func.value) else None
            if isinstance(owner, dict) and name in ("pop", "get") and node.args:
                key = evaluate(node.args[0], mod, env)
                fallback = self._expr(node.args[1], mod, cls, env) if len(node.args) > 1 else None
                return owner.pop(key, fallback) if name == "pop" else owner.get(key, fallback)
            if isinstance(owner, list) and name == "remove" and node.args:
                value = evaluate(node.args[0], mod, env)
                if value in owner:
                    owner.remove(value)
                return None
            if name in ("add_cli_args", "_customize_cli_kwargs"):
                return self._method(node, mod, cls, env, name)
        return evaluate(node, mod, env)

    def _method(self, node: ast.Call, mod: Module, cls: ClassRef | None, env: dict,
                name: str) -> object:
        """`X.add_cli_args(parser)`, `cls._customize_cli_kwargs(kw)`, `super()...`."""
        func = node.func
        start = cls
        if _is_super(func.value):
            start = _next_base(cls, name) if cls else None
            owner_cls = cls
        else:
            start = self._class(func.value, mod, cls, env)
            owner_cls = start
        found = _find_method(start, name) if start else None
        if found is None:  # unknown helper: treat it as passing its first argument through
            return self._expr(node.args[0], mod, cls, env) if node.args else None
        defining, fn = found
        params = [a.arg for a in fn.args.args]
        if params and params[0] in ("cls", "self"):
            params = params[1:]
        call_env: dict = {}
        for param, arg in zip(params, node.args, strict=False):
            call_env[param] = self._expr(arg, mod, cls, env)
        self._depth += 1
        result = self._returning(fn.body, defining.module, owner_cls, call_env)
        self._depth -= 1
        return result

    def _returning(self, body, mod, cls, env) -> object:
        if self._depth > 10:
            return None
        for stmt in body:
            if isinstance(stmt, ast.Return):
                return self._expr(stmt.value, mod, cls, env) if stmt.value else None
            self._stmt(stmt, mod, cls, env)
        return None

    def _class(self, node: ast.expr, mod: Module, cls: ClassRef | None,
               env: dict) -> ClassRef | None:
        if isinstance(node, ast.Name) and node.id == "cls" and cls is not None:
            return cls
        ref = evaluate(node, mod, env)
        return ref if isinstance(ref, ClassRef) else None

    def _add_argument(self, node: ast.Call, mod: Module, cls, env: dict) -> None:
        kw: dict = {}
        names_env = dict(env)
        for arg in node.args:
            if isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name):
                names_env[arg.value.id] = self._expr(arg.value, mod, cls, env)
        for k in node.keywords:
            if k.arg is None:
                inner = self._expr(k.value, mod, cls, env)
                if isinstance(inner, dict):
                    kw.update(inner)
            else:
                kw[k.arg] = abstract_kwarg(k.arg, k.value, mod, env)
        names = add_argument_names(node, mod, names_env)
        if names:
            self.flags.append(spec_from_kwargs(names, kw))


def _is_super(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and getattr(node.func, "id", "") == "super"


def _find_method(cls: ClassRef, name: str) -> tuple[ClassRef, ast.FunctionDef] | None:
    for stmt in cls.node.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
            return cls, stmt
    for base in class_bases(cls):
        if isinstance(base, ClassRef):
            found = _find_method(base, name)
            if found:
                return found
    return None


def _next_base(cls: ClassRef, name: str) -> ClassRef | None:
    """The class `super()` dispatches `name` to from the class that defines it."""
    found = _find_method(cls, name)
    if found is None:
        return None
    for base in class_bases(found[0]):
        if isinstance(base, ClassRef) and _find_method(base, name):
            return base
    return None
