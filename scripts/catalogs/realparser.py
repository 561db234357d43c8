"""The engines' real argument parsers: describe their flags, or parse argv lists with them.

Runs inside an engine's parser venv (scripts/catalogs/venvs.py), never in tuneops' own:

    <venv>/bin/python scripts/catalogs/realparser.py \
        sglang.srt.server_args:ServerArgs.add_cli_args describe
    <venv>/bin/python scripts/catalogs/realparser.py realparser:vllm_parser parse < argvs.json

The first word is the engine table's `catalog_from.real_parser.parser`.

`describe` prints every argparse action of the parser as JSON, with what the type function
does to probe values ("8", "8k", "auto", ...), so the catalog records what the engine
accepts rather than what its source seems to say. `parse` reads a JSON list of argv lists
(the words after the engine's entry point) and prints, for each, the parsed namespace or
the parser's error message. Parsing is exactly what the engine's launcher does before it
starts: SGLang's `prepare_server_args` parser, vLLM's `vllm serve` subcommand parser.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import importlib
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

# This folder holds modules named like the engines (sglang.py, vllm.py): keep it off the
# import path and load the stand-ins by file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_spec = importlib.util.spec_from_file_location("standins", _HERE / "standins.py")
standins = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(standins)

# Values fed to every type function; what each gives back tells the value kind apart.
PROBES = ("8", "-1", "8k", "1.5", "auto", "AUTO", "true", "word", "a,b", '{"a":1}', "{}",
          '["a"]')
# Size suffixes, whole and with decimals: the engines do not agree on them (SGLang: 1M is
# 10**6 and 1Mi is 2**20; vLLM: 1M is 2**20 and 1m is 10**6).
SUFFIXES = ("k", "K", "m", "M", "g", "G", "t", "T", "Ki", "Mi", "Gi", "Ti")
PROBES += tuple(f"1{s}" for s in SUFFIXES) + tuple(f"2.5{s}" for s in SUFFIXES)


Parsers = tuple[argparse.ArgumentParser, argparse.ArgumentParser, list[str]]


def adds_flags(target: str) -> Parsers:
    """(parser whose flags are described, parser argv goes to, words put before argv) for an
    engine whose flags a function adds to a plain parser: `module:Class.add_cli_args`.

    SGLang: `python -m sglang.launch_server` parses with exactly this parser
    (prepare_server_args builds an ArgumentParser and calls ServerArgs.add_cli_args)."""
    module_name, _, attr = target.partition(":")
    add = importlib.import_module(module_name)
    for part in attr.split("."):
        add = getattr(add, part)
    parser = argparse.ArgumentParser()
    add(parser)
    return parser, parser, []


def vllm_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, list[str]]:
    """`vllm serve ...` is parsed by the `vllm` parser with its `serve` subcommand."""
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    from vllm.entrypoints.cli.serve import ServeSubcommand

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:  # older layout
        from vllm.utils import FlexibleArgumentParser
    root = FlexibleArgumentParser(prog="vllm")
    subparsers = root.add_subparsers(dest="subparser", required=False)
    serve = ServeSubcommand().subparser_init(subparsers)
    return serve, root, ["serve"]


# Parsers a function here must assemble (an engine table's `parser: realparser:<name>`).
BUILDERS = {"vllm_parser": vllm_parser}


def parsers(target: str) -> Parsers:
    """The engine table's `catalog_from.real_parser.parser`: `realparser:<builder>` for one
    of BUILDERS, else `module:function` that adds the flags to a plain argparse parser."""
    module_name, _, attr = target.partition(":")
    if module_name == "realparser":
        return BUILDERS[attr]()
    return adds_flags(target)


def jsonable(value):
    """A JSON form of a parsed value (dataclasses and enums as the engine would show them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):  # as it is written: its value when text, else its name
        return value.value if isinstance(value.value, str) else value.name
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    for attr in ("model_dump", "to_dict"):
        if hasattr(value, attr):
            with contextlib.suppress(Exception):
                return jsonable(getattr(value, attr)())
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return jsonable(dataclasses.asdict(value))
    return {"__repr__": repr(value)}


def _choices(choices) -> list | None:
    if choices is None:
        return None
    if isinstance(choices, (set, frozenset)):  # no order of its own: give it one
        return sorted(jsonable(list(choices)), key=str)
    return jsonable(list(choices))


def _folds_case(action: argparse.Action) -> bool:
    """Whether the type function lower-cases a choice (`AITER` is taken as `aiter`)."""
    words = [c for c in action.choices or () if isinstance(c, str) and c.upper() != c]
    if not words or action.type is None:
        return False
    try:
        return action.type(words[0].upper()) == words[0]
    except BaseException:  # noqa: BLE001 - refused: it does not fold
        return False


def _type_name(fn) -> str | None:
    if fn is None:
        return None
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _probe(fn) -> dict:
    out = {}
    for word in PROBES:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                out[word] = {"ok": jsonable(fn(word))}
        except BaseException as exc:  # noqa: BLE001 - a refusal is the answer
            out[word] = {"error": type(exc).__name__}
    return out


def _sets(parser: argparse.ArgumentParser, action: argparse.Action) -> dict:
    """What each spelling of a no-value flag stores (tells `--x` from `--no-x`/`--disable-x`)."""
    out = {}
    for spelling in action.option_strings:
        ns = argparse.Namespace(**{action.dest: action.default})
        try:
            with contextlib.redirect_stderr(io.StringIO()), \
                    contextlib.redirect_stdout(io.StringIO()):
                action(parser, ns, [], spelling)
        except BaseException as exc:  # noqa: BLE001 - --help and friends exit
            out[spelling] = {"error": type(exc).__name__}
            continue
        out[spelling] = {"ok": jsonable(getattr(ns, action.dest, None))}
    return out


def describe(parser: argparse.ArgumentParser) -> dict:
    actions = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        entry = {
            "option_strings": list(action.option_strings),
            "dest": action.dest,
            "action": type(action).__name__,
            "default": jsonable(action.default),
            "const": jsonable(action.const),
            "nargs": action.nargs,
            "type": _type_name(action.type),
            "choices": _choices(action.choices),
            "required": bool(action.required),
            "help": action.help if isinstance(action.help, str) else None,
            "probes": _probe(action.type) if action.type is not None else None,
            "sets": _sets(parser, action) if action.nargs == 0 else None,
            "folds_case": _folds_case(action),
        }
        actions.append(entry)
    return {"prefix_chars": parser.prefix_chars, "allow_abbrev": parser.allow_abbrev,
            "actions": actions}


def parse(parser: argparse.ArgumentParser, argvs: list[list[str]]) -> list[dict]:
    out = []
    for argv in argvs:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                ns = parser.parse_args(argv)
        except SystemExit:
            lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
            out.append({"error": lines[-1] if lines else "the parser exited"})
            continue
        except Exception as exc:  # noqa: BLE001 - a type function raising is a refusal too
            out.append({"error": f"{type(exc).__name__}: {exc}"})
            continue
        out.append({"args": {k: jsonable(v) for k, v in vars(ns).items()}})
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or ":" not in argv[0] or argv[1] not in ("describe", "parse", "serve"):
        print("usage: realparser.py <module:function> describe|parse|serve", file=sys.stderr)
        return 2
    standins.install()
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # import-time chatter stays off stdout
        described, parser, prefix = parsers(argv[0])

    def answer(op: str, argvs: list | None) -> object:
        if op == "describe":
            return describe(described)
        return parse(parser, [[*prefix, *words] for words in argvs])

    if argv[1] != "serve":
        argvs = json.load(sys.stdin) if argv[1] == "parse" else None
        json.dump(answer(argv[1], argvs), out, indent=1, sort_keys=True)
        out.write("\n")
        return 0
    # serve: one JSON request per line ({"op": "parse", "argvs": [...]} or {"op":
    # "describe"}), one JSON answer per line; the engine is imported once.
    for line in sys.stdin:
        request = json.loads(line)
        with contextlib.redirect_stdout(sys.stderr):
            doc = answer(request["op"], request.get("argvs"))
        out.write(json.dumps(doc, sort_keys=True) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
