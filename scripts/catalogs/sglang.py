"""SGLang's `launch_server` flags, read from `sglang/srt/server_args.py` without importing it.

`ServerArgs.add_cli_args` registers flags two ways, and both are followed:
- explicit `parser.add_argument("--tp-size", type=int, default=ServerArgs.tp_size, ...)`;
- `add_cli_args_from_dataclass(parser, ServerArgs)`, which turns every field annotated
  `A[T, "help"]` or `A[T, Arg(help=..., choices=..., aliases=...)]` into a flag (SGLang
  >= 0.5.2x declares most fields this way, in namespace classes collected by
  `collect_input_fields([...])`). The rules mirror `sglang/srt/arg_groups/arg_utils.py`.
"""

from __future__ import annotations

import ast

from .common import (
    UNKNOWN,
    ClassRef,
    FieldDecl,
    FlagSpec,
    Module,
    Source,
    abstract_kwarg,
    action_mark,
    add_argument_names,
    class_fields,
    evaluate,
    field_default,
    hints,
    is_add_argument,
    qualname,
    spec_from_kwargs,
    split_annotated,
    text,
    type_mark,
)

SERVER_ARGS = "sglang.srt.server_args"
SERVER_ARGS_FILE = "sglang/srt/server_args.py"
CLASS = "ServerArgs"


def flags(source: Source, module_name: str = SERVER_ARGS) -> list[FlagSpec]:
    """Every flag `ServerArgs.add_cli_args` registers, in registration order."""
    module = source.module(module_name)
    if module is None:
        raise FileNotFoundError(f"{module_name} is not in the wheel")
    cls = module.lookup(CLASS)
    if not isinstance(cls, ClassRef):
        raise LookupError(f"{CLASS} not found in {module_name}")
    decls = {d.name: d for d in server_args_fields(module, cls)}
    method = next((s for s in cls.node.body
                   if isinstance(s, ast.FunctionDef) and s.name == "add_cli_args"), None)
    if method is None:
        raise LookupError(f"{CLASS}.add_cli_args not found in {module_name}")
    return list(_walk(method.body, module, decls, {}))


def server_args_fields(module: Module, cls: ClassRef) -> list[FieldDecl]:
    """Fields of ServerArgs: its own annotations plus namespace classes gathered with
    `collect_input_fields([...])` at module level."""
    decls = list(class_fields(cls))
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and (qualname(node.func, module) or "").endswith(
                "collect_input_fields") and node.args:
            sources = evaluate(node.args[0], module)
            if isinstance(sources, (list, tuple)):
                for ns in sources:
                    if isinstance(ns, ClassRef):
                        decls.extend(class_fields(ns))
    return decls


def _walk(body: list[ast.stmt], module: Module, decls: dict[str, FieldDecl], env: dict):
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            env[stmt.targets[0].id] = evaluate(stmt.value, module, env)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            if is_add_argument(call):
                yield _explicit(call, module, decls, env)
            elif (qualname(call.func, module, env) or "").endswith("add_cli_args_from_dataclass"):
                only = next((evaluate(k.value, module, env) for k in call.keywords
                             if k.arg == "fields"), None)
                for decl in decls.values():
                    if not isinstance(only, (list, tuple)) or decl.name in only:
                        spec = field_flag(decl)
                        if spec is not None:
                            yield spec
        elif isinstance(stmt, (ast.If, ast.For, ast.With, ast.Try)):
            # Conditional registrations (platform checks) still name real flags.
            for block in ("body", "orelse", "finalbody"):
                yield from _walk(getattr(stmt, block, []), module, decls, env)


def _explicit(call: ast.Call, module: Module, decls: dict[str, FieldDecl], env: dict) -> FlagSpec:
    kw = {}
    for k in call.keywords:
        if k.arg is None:
            continue
        if k.arg == "default":
            kw["default"] = _default(k.value, module, decls, env)
        else:
            kw[k.arg] = abstract_kwarg(k.arg, k.value, module, env)
    return spec_from_kwargs(add_argument_names(call, module, env), kw)


def _default(node: ast.expr, module: Module, decls: dict[str, FieldDecl], env: dict) -> object:
    """`ServerArgs.x` or `_declared_default("x")` -> the field's declared default."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == CLASS and node.attr in decls:
        return field_default(decls[node.attr])
    if isinstance(node, ast.Call) and len(node.args) == 1 \
            and isinstance(node.args[0], ast.Constant):
        name = node.args[0].value
        fn = qualname(node.func, module, env) or ""
        if "default" in fn.rsplit(".", 1)[-1] and name in decls:
            return field_default(decls[name])
    return evaluate(node, module, env)


def field_flag(decl: FieldDecl) -> FlagSpec | None:
    """The flag `add_cli_args_from_dataclass` makes of one field, or None when it makes none."""
    inner, extras, inner_mod = split_annotated(decl.annotation, decl.module)
    meta = _arg_meta(extras, decl.module)
    if meta is None or evaluate(meta.get("no_cli"), decl.module) is True:
        return None
    mod = decl.module
    ev = lambda key: evaluate(meta[key], mod) if key in meta else None  # noqa: E731
    cli_name = ev("cli_name") or "--" + decl.name.replace("_", "-")
    aliases = ev("aliases")
    names = [cli_name] + (list(aliases) if isinstance(aliases, (list, tuple)) else [])
    help_text = text(meta.get("help"), mod)
    default = field_default(decl)
    kw: dict = {"help": help_text, "default": None if default is UNKNOWN else default}
    if "choices" in meta:
        kw["choices"] = ev("choices")
    if "action" in meta:
        kw["action"] = action_mark(meta["action"], mod)
        extra = ev("action_kwargs")
        if isinstance(extra, dict):
            kw.update({k: v for k, v in extra.items() if k in ("nargs", "choices", "default")})
        return spec_from_kwargs(names, kw)
    parser = type_mark(meta["type_parser"], mod) if "type_parser" in meta else None
    members = hints(inner, inner_mod)
    non_none = [h for h in members if not (h.kind == "builtin" and h.name == "None")]
    one = non_none[0] if len(non_none) == 1 else None
    if one is not None and one.kind == "literal":
        kw.setdefault("choices", list(one.values))
        if kw["choices"] is None:
            kw["choices"] = list(one.values)
        first = one.values[0] if one.values else ""
        kw["type"] = parser or type_mark(ast.Name(id=type(first).__name__), mod)
        return spec_from_kwargs(names, kw)
    is_list = one is not None and (one.name == "list") and one.kind in ("generic", "builtin")
    if is_list and parser is None:
        elem = [h for h in (one.args[0] if one.args else ()) if h.kind == "builtin"]
        kw["type"] = type_mark(ast.Name(id=elem[0].name), mod) if len(elem) == 1 \
            else type_mark(None, mod)
        kw["nargs"] = ev("nargs") or "+"
        return spec_from_kwargs(names, kw)
    if one is not None and one.kind == "builtin" and one.name == "bool":
        kw["action"] = action_mark(ast.Constant("store_true"), mod)
        return spec_from_kwargs(names, kw)
    if parser is None:
        simple = one.name if one is not None and one.kind == "builtin" else "str"
        parser = type_mark(ast.Name(id=simple if simple in ("int", "float") else "str"), mod)
    kw["type"] = parser
    if "nargs" in meta:
        kw["nargs"] = ev("nargs")
    return spec_from_kwargs(names, kw)


def _arg_meta(extras: list[ast.expr], module: Module) -> dict[str, ast.expr] | None:
    """The keywords of the `Arg(...)` among Annotated extras; a bare string is the help."""
    for extra in extras:
        if isinstance(extra, ast.Call) and (qualname(extra.func, module) or "").endswith(".Arg"):
            meta = {k.arg: k.value for k in extra.keywords if k.arg}
            if extra.args:
                meta.setdefault("help", extra.args[0])
            return meta
        value = evaluate(extra, module)
        if isinstance(value, str) or value is UNKNOWN and _is_text(extra):
            return {"help": extra}
    return None


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, (ast.JoinedStr, ast.BinOp)) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str))
