"""Catalog entries from an engine's real argument parser, and parsing argv lists with it.

realparser.py runs inside the engine's parser venv and reports every argparse action; this
module (in tuneops' own venv) turns that report into catalog entries:

- name: the first long spelling without dashes (`tensor-parallel-size`), the catalog key;
- aliases: every other spelling that sets the flag, with its dashes (`-tp`, `--model`);
- negations: spellings that set it false (`--no-x` of a BooleanOptionalAction, or the
  `--disable-x` of an enable/disable pair sharing one destination);
- action: store | append | extend | store_true | store_false | boolean_optional (`--x` /
  `--no-x`) | enable_disable (vLLM's `--enable-x` / `--disable-x`) | store_const | count;
  custom action classes are reported by what their spellings store;
- type: what the type function accepts, found by feeding it probe words: int, float, str,
  bool, json (a mapping or list as one JSON word), json-or-str, comma-list (`a,b` in one
  word), int-or-size (`8k`, `1Mi`), int-or-auto, int-or-size-or-auto;
- nargs, choices, default and dest exactly as the parser has them.
"""

from __future__ import annotations

import atexit
import functools
import json
import subprocess
import tempfile
from pathlib import Path

from . import venvs

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "realparser.py"

BOOLEAN_ACTIONS = ("store_true", "store_false", "boolean_optional", "enable_disable")
HELP_MAX = 200


class ParserMissing(RuntimeError):
    """The engine's parser venv is not built."""


# plus the engine table's catalog_from.real_parser.env
ENV = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "ERROR"}


@functools.cache
def _server(engine: str) -> subprocess.Popen:
    """realparser.py serving one engine's parser: importing vLLM takes seconds, so one
    process answers every request of this process (it ends when stdin closes)."""
    if not venvs.ready(engine):
        raise ParserMissing(venvs.missing_message(engine))
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: it can never fill up
    proc = subprocess.Popen([str(venvs.python(engine)), str(SCRIPT), venvs.parser(engine),
                             "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=log, text=True, env={**ENV, **venvs.env(engine)})
    proc.log = log
    atexit.register(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=30)


def _ask(engine: str, request: dict) -> object:
    proc = _server(engine)
    proc.stdin.write(json.dumps(request) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        _server.cache_clear()
        proc.log.seek(0)
        raise RuntimeError(f"{engine} real parser failed:\n{proc.log.read()[-4000:]}")
    return json.loads(line)


def describe(engine: str) -> dict:
    """Every action of the engine's real parser (realparser.py describe)."""
    return _ask(engine, {"op": "describe"})


def parse(engine: str, argvs: list[list[str]]) -> list[dict]:
    """Each argv (words after the entry point) parsed by the engine's real parser:
    {"args": namespace} or {"error": the parser's message}."""
    return _ask(engine, {"op": "parse", "argvs": argvs})


def short_help(help_text: str | None) -> str:
    """First sentence, whitespace collapsed, at most HELP_MAX characters."""
    import re

    flat = " ".join((help_text or "").replace("%%", "%").split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`'\"(\[*-])", flat)
    first = flat[: match.start()] if match else flat
    return first if len(first) <= HELP_MAX else first[: HELP_MAX - 1].rstrip() + "…"


def value_kind(probes: dict | None) -> str:
    """The catalog type of a type function, from what it did with the probe words."""
    if not probes:
        return "str"

    def ok(word: str):
        return probes[word].get("ok", _REFUSED) if word in probes else _REFUSED

    takes_mapping = isinstance(ok("{}"), dict) or isinstance(ok('{"a":1}'), dict)
    if takes_mapping:
        return "json-or-str" if ok("word") == "word" else "json"
    if ok("word") == "word":
        return "str"
    if ok("a,b") == ["a", "b"]:
        return "comma-list"
    if ok("8") == 8 and type(ok("8")) is int:
        size = type(ok("8k")) is int
        auto = ok("auto") is not _REFUSED
        return {(False, False): "int", (True, False): "int-or-size",
                (False, True): "int-or-auto", (True, True): "int-or-size-or-auto"}[(size, auto)]
    if ok("1.5") == 1.5:
        return "float"
    if ok("true") is True:
        return "bool"
    return "str"


_REFUSED = object()


def _sizes(probes: dict) -> tuple[dict[str, int], list[str]]:
    """Suffix -> multiplier the type function applies, and the suffixes taking decimals."""
    sizes, decimals = {}, []
    for word, got in probes.items():
        if word.startswith("1") and word[1:].isalpha() and type(got.get("ok")) is int:
            sizes[word[1:]] = got["ok"]
        if word.startswith("2.5") and word[3:].isalpha() and type(got.get("ok")) is int:
            decimals.append(word[3:])
    return dict(sorted(sizes.items())), sorted(decimals)


def _action_name(entry: dict, on: list[str], off: list[str]) -> str:
    cls = entry["action"]
    if entry["nargs"] != 0:
        return {"_AppendAction": "append", "_ExtendAction": "extend"}.get(cls, "store")
    if cls == "BooleanOptionalAction":
        return "boolean_optional"
    if on and off:
        return "enable_disable"  # vLLM's EnableDisableAction: --enable-x / --disable-x
    if on:
        return "store_true"
    if off:
        return "store_false"
    return {"_CountAction": "count", "_AppendConstAction": "append_const"}.get(cls,
                                                                              "store_const")


def _on_off(a: dict) -> tuple[list[str], list[str]]:
    """Spellings that store True, and those that store False (no-value flags only)."""
    sets = a.get("sets") or {}
    on = [s for s in a["option_strings"] if sets.get(s, {}).get("ok", _REFUSED) is True]
    off = [s for s in a["option_strings"] if sets.get(s, {}).get("ok", _REFUSED) is False]
    return on, off


def _canonical(option_strings: list[str]) -> str:
    longs = [s for s in option_strings if s.startswith("--")]
    return (longs or option_strings)[0].lstrip("-")


def entries(description: dict) -> dict[str, dict]:
    """Catalog entries (name -> entry) from realparser's `describe` output."""
    out: dict[str, dict] = {}
    for a in description["actions"]:
        if not a["option_strings"]:
            continue  # positionals (vLLM's model tag) are tuneops' to set
        on, off = _on_off(a)
        kind = _action_name(a, on, off)
        boolean = kind in BOOLEAN_ACTIONS
        spellings = (on or off) if boolean else list(a["option_strings"])
        negations = off if kind in ("boolean_optional", "enable_disable") else []
        name = _canonical(spellings)
        if name in out:
            continue  # argparse refuses a second registration; keep the first
        entry = {
            "action": kind,
            "aliases": [s for s in spellings if s != f"--{name}"],
            "boolean": boolean,
            "choices": a["choices"],
            "default": a["default"] if a["default"] != "==SUPPRESS==" else None,
            "dest": a["dest"],
            "help": short_help(a["help"]),
            "nargs": None if a["nargs"] in (0, None) else a["nargs"],
            "negations": negations,
            "type": "bool" if boolean else value_kind(a["probes"]),
        }
        if entry["type"].startswith("int-or-size"):
            entry["sizes"], entry["size_decimals"] = _sizes(a["probes"])
        if entry["type"].endswith("-or-auto"):
            entry["auto"] = a["probes"]["auto"]["ok"]  # what `auto` stands for
        if a.get("folds_case") or (entry["type"].endswith("-or-auto")
                                   and "ok" in a["probes"].get("AUTO", {})):
            entry["folds_case"] = True  # the type function lower-cases words first
        if kind == "store_const":
            entry["const"] = a["const"]
        out[name] = entry
    return dict(sorted(out.items()))
