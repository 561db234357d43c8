"""Read Python source out of a wheel and evaluate the parts of it that are plain data.

Importing sglang or vLLM needs torch and a GPU stack, so the catalogs are built from the
source text alone: modules are parsed with `ast`, names are followed through imports inside
the wheel, and only expressions that are data (literals, constants, concatenations, enum-like
class attributes, small helper functions that return one) are evaluated. Anything else comes
back as UNKNOWN, and callers keep what they do know.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

FLAG_TYPES = ("int", "float", "str", "bool", "json")
HELP_MAX = 200


# --------------------------------------------------------------------------- wheels


def ensure_wheel(package: str, version: str, wheel_dir: Path) -> Path:
    """The cached wheel of package==version, downloaded once with pip (no deps)."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    norm = package.replace("-", "_")
    found = sorted(wheel_dir.glob(f"{norm}-{version}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             f"{package}=={version}", "-d", str(wheel_dir)],
            check=True,
        )
        found = sorted(wheel_dir.glob(f"{norm}-{version}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip download gave no wheel for {package}=={version}")
    return found[0]


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class ClassRef:
    module: Module
    node: ast.ClassDef

    @property
    def qualname(self) -> str:
        return f"{self.module.name}.{self.node.name}"


@dataclass(frozen=True)
class FuncRef:
    module: Module
    node: ast.FunctionDef


@dataclass(frozen=True)
class ModuleRef:
    module: Module


@dataclass(frozen=True)
class External:
    """A name imported from outside the wheel (typing, json, argparse, ...)."""

    qualname: str


# --------------------------------------------------------------------------- modules


class Source:
    """Python modules of one wheel (or of an in-memory mapping, for tests)."""

    def __init__(self, files: dict[str, str]):
        self._files = files
        self._modules: dict[str, Module | None] = {}

    @classmethod
    def from_wheel(cls, path: Path, prefixes: tuple[str, ...]) -> Source:
        files = {}
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.endswith(".py") and name.startswith(prefixes):
                    files[name] = zf.read(name).decode("utf-8")
        return cls(files)

    def module(self, dotted: str) -> Module | None:
        if dotted not in self._modules:
            base = dotted.replace(".", "/")
            for path, is_pkg in ((f"{base}.py", False), (f"{base}/__init__.py", True)):
                if path in self._files:
                    self._modules[dotted] = Module(self, dotted, path, is_pkg,
                                                   ast.parse(self._files[path], path))
                    break
            else:
                self._modules[dotted] = None
        return self._modules[dotted]


class Module:
    def __init__(self, source: Source, name: str, path: str, is_pkg: bool, tree: ast.Module):
        self.source, self.name, self.path, self.tree = source, name, path, tree
        self.package = name if is_pkg else name.rpartition(".")[0]
        self.values: dict[str, ast.expr] = {}
        self.defs: dict[str, ast.ClassDef | ast.FunctionDef] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}
        self._scan(tree.body)

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Module) and other.name == self.name

    def _scan(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self.values[target.id] = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if stmt.value is not None:
                    self.values[stmt.target.id] = stmt.value
            elif isinstance(stmt, (ast.ClassDef, ast.FunctionDef)):
                self.defs.setdefault(stmt.name, stmt)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.imports.update(import_bindings(stmt, self.package))
            elif isinstance(stmt, ast.If):
                self._scan(stmt.body)
                self._scan(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                self._scan(stmt.body)
                for handler in stmt.handlers:
                    self._scan(handler.body)

    def lookup(self, name: str, _depth: int = 0) -> object:
        """What a module-level name refers to: a node, a reference, or UNKNOWN."""
        if _depth > 20:
            return UNKNOWN
        if name in self.defs:
            node = self.defs[name]
            return ClassRef(self, node) if isinstance(node, ast.ClassDef) else FuncRef(self, node)
        if name in self.values:
            return (self, self.values[name])
        if name in self.imports:
            return resolve_import(self.source, *self.imports[name], _depth=_depth)
        return UNKNOWN


def import_bindings(stmt: ast.Import | ast.ImportFrom, package: str) -> dict:
    """Names an import statement binds -> (module, attribute or None)."""
    out: dict[str, tuple[str, str | None]] = {}
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                out[alias.asname] = (alias.name, None)
            else:
                top = alias.name.partition(".")[0]
                out[top] = (top, None)
        return out
    base = stmt.module or ""
    if stmt.level:
        parts = package.split(".")
        parts = parts[: len(parts) - (stmt.level - 1)] if stmt.level > 1 else parts
        base = ".".join(parts + ([stmt.module] if stmt.module else []))
    for alias in stmt.names:
        out[alias.asname or alias.name] = (base, alias.name)
    return out


def resolve_import(source: Source, module: str, attr: str | None, _depth: int = 0) -> object:
    if attr is None:
        mod = source.module(module)
        return ModuleRef(mod) if mod else External(module)
    mod = source.module(module)
    if mod is None:
        return External(f"{module}.{attr}")
    found = mod.lookup(attr, _depth + 1)
    if found is UNKNOWN:
        sub = source.module(f"{module}.{attr}")
        return ModuleRef(sub) if sub else UNKNOWN
    return found


# --------------------------------------------------------------------------- evaluation

_BUILTINS = {"int", "float", "str", "bool", "dict", "list", "tuple", "set", "frozenset",
             "sorted", "object", "type", "len", "sum", "any", "all"}


def resolve_name(node: ast.expr, module: Module, env: dict | None = None) -> object:
    """What a Name or dotted Attribute refers to (references, or (module, node) for values)."""
    if isinstance(node, ast.Name):
        if env is not None and node.id in env:
            return ("env", env[node.id])
        found = module.lookup(node.id)
        if found is UNKNOWN and node.id in _BUILTINS:
            return External(f"builtins.{node.id}")
        return found
    if isinstance(node, ast.Attribute):
        base = resolve_name(node.value, module, env)
        if isinstance(base, ModuleRef):
            return base.module.lookup(node.attr)
        if isinstance(base, External):
            return External(f"{base.qualname}.{node.attr}")
        if isinstance(base, ClassRef):
            value = class_attribute(base, node.attr)
            return ("env", value) if value is not None else UNKNOWN
        if isinstance(base, tuple) and base[0] != "env":
            # A module-level alias of a module or class (X = some.Class).
            inner = resolve_name(base[1], base[0]) if isinstance(
                base[1], (ast.Name, ast.Attribute)) else UNKNOWN
            if isinstance(inner, (ModuleRef, ClassRef, External)):
                return resolve_name(ast.Attribute(value=ast.Name(id="_x"), attr=node.attr),
                                    module, {**(env or {}), "_x": inner})
        if isinstance(base, tuple) and base[0] == "env":
            inner = base[1]
            if isinstance(inner, (ModuleRef, ClassRef, External)):
                tmp = ast.Attribute(value=ast.Name(id="_x"), attr=node.attr)
                return resolve_name(tmp, module, {"_x": inner})
    return UNKNOWN


def qualname(node: ast.expr, module: Module, env: dict | None = None) -> str | None:
    """Dotted name a reference stands for, following aliases (`A = Annotated`)."""
    for _ in range(10):
        ref = resolve_name(node, module, env)
        if isinstance(ref, External):
            return ref.qualname
        if isinstance(ref, ClassRef):
            return ref.qualname
        if isinstance(ref, FuncRef):
            return f"{ref.module.name}.{ref.node.name}"
        if isinstance(ref, ModuleRef):
            return ref.module.name
        if isinstance(ref, tuple) and ref[0] == "env":
            inner = ref[1]
            return inner.qualname if isinstance(inner, (External, ClassRef)) else None
        if isinstance(ref, tuple) and isinstance(ref[1], (ast.Name, ast.Attribute)):
            module, node, env = ref[0], ref[1], None
            continue
        return None
    return None


def class_attribute(cls: ClassRef, attr: str) -> object | None:
    """Value of a class-body constant (`ALL = (A, B)`), evaluated in the class scope."""
    scope: dict = {}
    result = None
    for stmt in cls.node.body:
        targets: list = []
        value = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        for target in targets:
            if isinstance(target, ast.Name):
                scope[target.id] = evaluate(value, cls.module, scope)
                if target.id == attr:
                    result = scope[target.id]
    if result is None:
        for base in cls.node.bases:
            ref = resolve_name(base, cls.module)
            if isinstance(ref, ClassRef):
                found = class_attribute(ref, attr)
                if found is not None:
                    return found
    return result


def evaluate(node: ast.expr | None, module: Module, env: dict | None = None,
             _depth: int = 0) -> object:
    """The value of a data expression, or UNKNOWN."""
    if node is None or _depth > 30:
        return UNKNOWN
    ev = lambda n: evaluate(n, module, env, _depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [ev(e) for e in node.elts]
        if any(i is UNKNOWN for i in items):
            return UNKNOWN
        if isinstance(node, ast.Set):
            try:
                return set(items)
            except TypeError:
                return UNKNOWN
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        keys, values = [ev(k) if k else UNKNOWN for k in node.keys], [ev(v) for v in node.values]
        if any(x is UNKNOWN for x in keys + values):
            return UNKNOWN
        try:
            return dict(zip(keys, values, strict=True))
        except TypeError:
            return UNKNOWN
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = ev(node.operand)
        return -value if isinstance(value, (int, float)) else UNKNOWN
    if isinstance(node, ast.BinOp):
        left, right = ev(node.left), ev(node.right)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.BitOr) and isinstance(left, (set, frozenset)):
                return left | right
        except TypeError:
            return UNKNOWN
        return UNKNOWN
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            part = ev(value.value) if isinstance(value, ast.FormattedValue) else ev(value)
            if part is UNKNOWN or isinstance(part, (ClassRef, FuncRef, ModuleRef, External)):
                return UNKNOWN
            parts.append(str(part))
        return "".join(parts)
    if isinstance(node, (ast.Name, ast.Attribute)):
        ref = resolve_name(node, module, env)
        if isinstance(ref, tuple):
            if ref[0] == "env":
                return ref[1]
            return evaluate(ref[1], ref[0], None, _depth + 1)
        return ref
    if isinstance(node, ast.Call):
        return _evaluate_call(node, module, env, _depth)
    return UNKNOWN


_STR_METHODS = ("replace", "lower", "upper", "strip", "lstrip", "rstrip")


def _evaluate_call(node: ast.Call, module: Module, env: dict | None, depth: int) -> object:
    name = qualname(node.func, module, env)
    args = [evaluate(a, module, env, depth + 1) for a in node.args]
    if any(a is UNKNOWN for a in args) or node.keywords:
        return UNKNOWN
    builders = {"builtins.list": list, "builtins.tuple": tuple, "builtins.set": set,
                "builtins.frozenset": frozenset, "builtins.sorted": sorted,
                "builtins.int": int, "builtins.float": float, "builtins.str": str}
    if name in builders and len(args) <= 1:
        try:
            return builders[name](*args)
        except (TypeError, ValueError):
            return UNKNOWN
    if isinstance(node.func, ast.Attribute) and node.func.attr in _STR_METHODS:
        owner = evaluate(node.func.value, module, env, depth + 1)
        if isinstance(owner, str) and all(isinstance(a, str) for a in args):
            return getattr(owner, node.func.attr)(*args)
    ref = resolve_name(node.func, module, env)
    if isinstance(ref, FuncRef) and not args and not ref.node.args.args:
        return _evaluate_function(ref, depth)
    return UNKNOWN


def _evaluate_function(ref: FuncRef, depth: int) -> object:
    """A no-argument helper's last `return`, with the function's own imports in scope.

    Helpers like `_tool_call_parser_choices()` return a registry when a plugin has loaded
    one and otherwise fall back to a constant list in the wheel; the fallback is the last
    return, and is what a plain install offers.
    """
    env: dict = {}
    last = None
    for stmt in ast.walk(ref.node):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for name, (mod, attr) in import_bindings(stmt, ref.module.package).items():
                env[name] = resolve_import(ref.module.source, mod, attr)
        elif isinstance(stmt, ast.Return) and (last is None or stmt.lineno > last.lineno):
            last = stmt
    if last is None:
        return UNKNOWN
    # Imports resolve to (module, node) pairs; evaluate those eagerly for the env.
    env = {k: (evaluate(v[1], v[0]) if isinstance(v, tuple) else v) for k, v in env.items()}
    return evaluate(last.value, ref.module, env, depth + 1)


def text(node: ast.expr | None, module: Module, env: dict | None = None) -> str:
    """A help string, keeping the parts that evaluate and eliding the rest."""
    if node is None:
        return ""
    value = evaluate(node, module, env)
    if isinstance(value, str):
        return value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return text(node.left, module, env) + text(node.right, module, env)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                inner = evaluate(part.value, module, env)
                parts.append(str(inner) if isinstance(inner, (str, int, float, list)) else "…")
            else:
                parts.append(str(evaluate(part, module, env)))
        return "".join(parts)
    return ""


# --------------------------------------------------------------------------- catalog entries


def short_help(help_text: str) -> str:
    """First sentence, whitespace collapsed, at most HELP_MAX characters."""
    flat = " ".join(help_text.replace("%%", "%").split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`'\"(\[*-])", flat)
    first = flat[: match.start()] if match else flat
    return first if len(first) <= HELP_MAX else first[: HELP_MAX - 1].rstrip() + "…"


def json_default(value: object) -> object:
    """A default as JSON data; values that are not data (objects, UNKNOWN) become null."""
    if isinstance(value, (set, frozenset)):
        items = [json_default(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [json_default(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: json_default(v) for k, v in value.items()}
        return None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    return None


def json_choices(value: object) -> list | None:
    """Choices as a JSON list: sets sorted, None dropped, UNKNOWN -> None (not known)."""
    if value is UNKNOWN or value is None or isinstance(value, (str, bytes)):
        return None
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)
    try:
        items = [v for v in value if v is not None]
    except TypeError:
        return None
    if not all(isinstance(v, (str, int, float, bool)) for v in items):
        return None
    return list(items) or None


@dataclass
class FlagSpec:
    """One flag as argparse would see it, before it is written to the catalog."""

    names: list[str]
    type: str = "str"
    boolean: bool = False
    choices: list | None = None
    default: object = None
    nargs: object = None
    help: str = ""
    notes: list[str] = field(default_factory=list)

    def entry(self) -> tuple[str, dict]:
        long_names = [n.lstrip("-") for n in self.names if n.startswith("--")]
        short = [n.lstrip("-") for n in self.names if not n.startswith("--")]
        primary = long_names[0] if long_names else short[0]
        aliases = [n for n in long_names[1:] + short if n != primary]
        nargs = None if self.nargs in (None, UNKNOWN) else str(self.nargs)
        return primary, {
            "type": "bool" if self.boolean else self.type,
            "boolean": self.boolean,
            "choices": self.choices,
            "default": json_default(self.default),
            "aliases": aliases,
            "nargs": nargs,
            "help": short_help(self.help),
        }


def catalog(engine: str, package: str, version: str, file: str,
            flags: list[FlagSpec]) -> dict:
    """The catalog document; a flag registered twice keeps its first registration."""
    out: dict[str, dict] = {}
    for spec in flags:
        name, entry = spec.entry()
        out.setdefault(name, entry)
    return {
        "engine": engine,
        "source": {"package": package, "version": version, "file": file,
                   "generated_by": "scripts/make_catalogs.py"},
        "flags": dict(sorted(out.items())),
    }


def dumps(doc: dict) -> str:
    """Byte-for-byte stable serialization."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- type annotations


@dataclass(frozen=True)
class Hint:
    """One member of a (flattened) type annotation.

    kind: "builtin" (name: int, float, str, bool, dict, list, tuple, set, None),
    "literal" (values), "generic" (name: list/tuple/set/dict, args: one hint set per
    parameter), "class" (ref: a class in the wheel), "ellipsis", "classvar", "other".
    """

    kind: str
    name: str = ""
    values: tuple = ()
    args: tuple = ()
    ref: ClassRef | None = field(default=None, compare=False, hash=False)


_TYPING_BUILTINS = {
    "List": "list", "Dict": "dict", "Tuple": "tuple", "Set": "set", "FrozenSet": "set",
    "Sequence": "list", "MutableSequence": "list", "Mapping": "dict", "MutableMapping": "dict",
    "Iterable": "list", "frozenset": "set",
}
_TYPING_MODULES = ("typing.", "typing_extensions.", "collections.abc.", "builtins.")


def _short(qual: str | None) -> str | None:
    if qual is None:
        return None
    for prefix in _TYPING_MODULES:
        if qual.startswith(prefix):
            name = qual[len(prefix):]
            return _TYPING_BUILTINS.get(name, name)
    return None


def split_annotated(node: ast.expr, module: Module,
                    _depth: int = 0) -> tuple[ast.expr, list[ast.expr], Module]:
    """(inner annotation, Annotated extras, module of the inner node)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        node = ast.parse(node.value, mode="eval").body
    if isinstance(node, ast.Subscript) and _short(qualname(node.value, module)) == "Annotated":
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return elts[0], list(elts[1:]), module
    if _depth < 10 and isinstance(node, ast.Name):
        ref = resolve_name(node, module)
        if isinstance(ref, tuple) and isinstance(ref[0], Module):
            inner, extras, mod = split_annotated(ref[1], ref[0], _depth + 1)
            if extras:
                return inner, extras, mod
    return node, [], module


def hints(node: ast.expr | None, module: Module, _depth: int = 0) -> frozenset[Hint]:
    """The flattened members of an annotation: unions, Optional and Annotated unwrapped,
    type aliases followed through the wheel."""
    if node is None or _depth > 25:
        return frozenset({Hint("other", "?")})
    rec = lambda n, m=module: hints(n, m, _depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant):
        if node.value is None:
            return frozenset({Hint("builtin", "None")})
        if node.value is Ellipsis:
            return frozenset({Hint("ellipsis")})
        if isinstance(node.value, str):
            try:
                return rec(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return frozenset({Hint("other", node.value)})
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return rec(node.left) | rec(node.right)
    if isinstance(node, ast.Subscript):
        base = _short(qualname(node.value, module)) or qualname(node.value, module)
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Annotated":
            return rec(elts[0])
        if base == "Optional":
            return rec(elts[0]) | {Hint("builtin", "None")}
        if base == "Union":
            out: frozenset[Hint] = frozenset()
            for e in elts:
                out |= rec(e)
            return out
        if base == "Literal":
            values = []
            for e in elts:
                value = evaluate(e, module)
                if value is UNKNOWN:
                    # A Literal nested in a Literal (Literal[Alias, "x"]).
                    values.extend(v for h in rec(e) if h.kind == "literal" for v in h.values)
                else:
                    values.append(value)
            return frozenset({Hint("literal", values=tuple(values))})
        if base == "ClassVar":
            return frozenset({Hint("classvar")})
        if base in ("list", "tuple", "set", "dict", "type"):
            if base == "type":
                return frozenset({Hint("other", "type")})
            return frozenset({Hint("generic", base, args=tuple(rec(e) for e in elts))})
        return frozenset({Hint("other", str(base))})
    if isinstance(node, (ast.Name, ast.Attribute)):
        ref = resolve_name(node, module)
        if isinstance(ref, External):
            short = _short(ref.qualname)
            if short in ("int", "float", "str", "bool", "dict", "list", "tuple", "set"):
                return frozenset({Hint("builtin", short)})
            if short == "ClassVar":
                return frozenset({Hint("classvar")})
            return frozenset({Hint("other", ref.qualname)})
        if isinstance(ref, ClassRef):
            return frozenset({Hint("class", ref.qualname, ref=ref)})
        if isinstance(ref, tuple) and isinstance(ref[0], Module):
            value = ref[1]
            # `X = TypeAliasType("X", Literal[...])` / `X = NewType("X", int)`
            if isinstance(value, ast.Call) and len(value.args) >= 2:
                return rec(value.args[1], ref[0])
            return rec(value, ref[0])
        if isinstance(node, ast.Name) and node.id in _BUILTINS:
            return frozenset({Hint("builtin", node.id)})
    return frozenset({Hint("other", ast.unparse(node))})


def class_bases(cls: ClassRef) -> list[ClassRef | str]:
    """Direct bases: classes in the wheel, or the qualified name of outside ones."""
    out: list[ClassRef | str] = []
    for base in cls.node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        ref = resolve_name(target, cls.module)
        if isinstance(ref, ClassRef):
            out.append(ref)
        else:
            out.append(qualname(target, cls.module) or ast.unparse(target))
    return out


def mro_names(cls: ClassRef, _depth: int = 0) -> list[str]:
    """Qualified names of a class and all its ancestors, nearest first."""
    names = [cls.qualname]
    if _depth < 15:
        for base in class_bases(cls):
            names += mro_names(base, _depth + 1) if isinstance(base, ClassRef) else [base]
    return names


@dataclass
class FieldDecl:
    name: str
    annotation: ast.expr
    value: ast.expr | None  # the right-hand side, None when absent
    doc: str
    module: Module


def class_fields(cls: ClassRef, _depth: int = 0) -> list[FieldDecl]:
    """Annotated fields of a dataclass-like class, bases first (dataclass order)."""
    ordered: dict[str, FieldDecl] = {}
    if _depth < 15:
        for base in reversed(class_bases(cls)):
            if isinstance(base, ClassRef):
                ordered.update({f.name: f for f in class_fields(base, _depth + 1)})
    body = cls.node.body
    for i, stmt in enumerate(body):
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        if any(h.kind == "classvar" for h in hints(stmt.annotation, cls.module)):
            continue
        doc = ""
        nxt = body[i + 1] if i + 1 < len(body) else None
        if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                and isinstance(nxt.value.value, str):
            doc = nxt.value.value
        name = stmt.target.id
        if name in ordered:  # an override keeps its position, takes the new declaration
            ordered[name] = FieldDecl(name, stmt.annotation, stmt.value, doc or ordered[name].doc,
                                      cls.module)
        else:
            ordered[name] = FieldDecl(name, stmt.annotation, stmt.value, doc, cls.module)
    return list(ordered.values())


def field_default(decl: FieldDecl) -> object:
    """A field's default: `= v`, `field(default=v)`, `Field(default=v)`, a default_factory
    (list/dict/set/lambda: ...). Defaults built from objects come back UNKNOWN."""
    value = decl.value
    if value is None:
        return UNKNOWN
    if isinstance(value, ast.Call):
        fn = qualname(value.func, decl.module) or ""
        if fn.rsplit(".", 1)[-1] in ("field", "Field"):
            kw = {k.arg: k.value for k in value.keywords}
            if "default" in kw:
                return evaluate(kw["default"], decl.module)
            if value.args and fn.endswith("Field"):
                return evaluate(value.args[0], decl.module)
            factory = kw.get("default_factory")
            if factory is None:
                return UNKNOWN
            if isinstance(factory, ast.Lambda):
                return evaluate(factory.body, decl.module)
            made = _short(qualname(factory, decl.module))
            return {"list": [], "dict": {}, "set": set(), "tuple": ()}.get(made, UNKNOWN)
    return evaluate(value, decl.module)


# --------------------------------------------------------------------------- argparse keywords


class Mark(str):
    """A `type=` or `action=` already reduced to its catalog meaning."""


BOOLEAN_ACTIONS = {"store_true", "store_false", "store_const", "boolean_optional", "bare"}
_INT_PARSERS = ("human_readable_int", "human_readable_int_or_auto")
_JSON_PARSERS = ("json.loads", "json_list_type", "union_dict_and_str", "parse_dataclass")


def type_mark(node: ast.expr | None, module: Module, env: dict | None = None) -> Mark:
    """What a `type=` callable parses to: int, float, str, bool or json (unknown -> str)."""
    if node is None:
        return Mark("str")
    if isinstance(node, ast.Name) and env and isinstance(env.get(node.id), Mark):
        return env[node.id]
    if isinstance(node, ast.Call):
        fn = qualname(node.func, module, env) or ""
        if fn.rsplit(".", 1)[-1] in ("optional_type", "parse_type", "partial") and node.args:
            return type_mark(node.args[0], module, env)
        return Mark("str")
    name = qualname(node, module, env) or ""
    short = _short(name)
    if short in ("int", "float", "str", "bool"):
        return Mark(short)
    if name.endswith(_INT_PARSERS):
        return Mark("int")
    if name.endswith(_JSON_PARSERS):
        return Mark("json")
    return Mark("str")


def action_mark(node: ast.expr | None, module: Module, env: dict | None = None) -> Mark | None:
    """An `action=` as store_true / store_false / store_const / boolean_optional / bare (a
    custom Action whose __init__ defaults nargs=0) / other."""
    if node is None:
        return None
    if isinstance(node, ast.Name) and env and isinstance(env.get(node.id), Mark):
        return env[node.id]
    value = evaluate(node, module, env)
    if isinstance(value, str):
        return Mark(value)
    ref = resolve_name(node, module, env)
    names = mro_names(ref) if isinstance(ref, ClassRef) else [qualname(node, module, env) or ""]
    for name in names:
        tail = name.rsplit(".", 1)[-1]
        if tail == "BooleanOptionalAction":
            return Mark("boolean_optional")
        if tail in ("_StoreTrueAction", "_StoreFalseAction", "_StoreConstAction"):
            return Mark(tail.strip("_").replace("Action", "").replace("Store", "store_").lower())
    if isinstance(ref, ClassRef):
        for stmt in ref.node.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                args = stmt.args
                pos = args.args[len(args.args) - len(args.defaults):]
                pairs = list(zip(pos, args.defaults, strict=True)) + list(
                    zip(args.kwonlyargs, args.kw_defaults, strict=True))
                for arg, default in pairs:
                    if arg.arg == "nargs" and evaluate(default, ref.module) == 0:
                        return Mark("bare")
    return Mark("other")


def abstract_kwarg(key: str, node: ast.expr, module: Module, env: dict | None = None) -> object:
    """An add_argument keyword reduced to what the catalog needs."""
    if key == "type":
        return type_mark(node, module, env)
    if key == "action":
        return action_mark(node, module, env)
    if key == "help":
        return text(node, module, env)
    return evaluate(node, module, env)


def spec_from_kwargs(names: list[str], kw: dict, notes: list[str] | None = None) -> FlagSpec:
    """A FlagSpec from abstract add_argument keywords (see abstract_kwarg)."""
    action = kw.get("action")
    nargs = kw.get("nargs")
    boolean = action in BOOLEAN_ACTIONS and nargs in (None, 0) and (
        action != "bare" or "nargs" not in kw)
    type_ = kw.get("type")
    spec = FlagSpec(
        names=list(names),
        type=str(type_) if isinstance(type_, Mark) else "str",
        boolean=boolean,
        choices=json_choices(kw.get("choices")),
        default=kw.get("default"),
        nargs=None if boolean or nargs in (None, 0) else nargs,
        help=kw.get("help") if isinstance(kw.get("help"), str) else "",
        notes=list(notes or []),
    )
    if "choices" in kw and spec.choices is None and kw["choices"] is not None:
        spec.notes.append("choices not resolvable statically")
    return spec


def add_argument_names(call: ast.Call, module: Module, env: dict | None = None) -> list[str]:
    """Option strings of an add_argument call (starred lists included)."""
    names: list[str] = []
    for arg in call.args:
        node = arg.value if isinstance(arg, ast.Starred) else arg
        value = evaluate(node, module, env)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, (list, tuple)):
            names.extend(v for v in value if isinstance(v, str))
    return [n for n in names if n.startswith("-")]


def is_add_argument(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument")
