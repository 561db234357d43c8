"""`tuneops promote REPORT [--into FILE]`: write a run's winning configuration back.

The target is edited with ruamel.yaml's round-trip mode, so its comments, key order and
quoting survive; only the winning flags change. What the target is comes from its content:

- a tuneops Experiment (the default: the experiment the report was run from): the best
  trial's parameters become `engine.args`, the new baseline;
- an OME ClusterServingRuntime or InferenceService: every argv list (`command` / `args`)
  that carries engine flags gets the winning values;
- a docker compose file: the service's `command` (a list or a string; `--service` picks
  one when there are several).

A flag already in an argv is replaced where it stands; a new one is appended. Booleans
are bare flags, as the renderer writes them (tuneops/renderers/command.py).
"""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from tuneops.errors import UserError
from tuneops.registry import catalog
from tuneops.renderers.command import flag_words
from tuneops.runner.report.load import Report, ReportTrial, load


def _yaml(text: str) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    offset = _dash_offset(text)
    y.indent(mapping=2, sequence=offset + 2, offset=offset)
    return y


def _dash_offset(text: str) -> int:
    """How far a block sequence's dash sits right of its parent key (0 or 2, the two
    styles in use), read from the file so a rewrite does not re-indent every list."""
    lines = text.splitlines()
    for prev, line in zip(lines, lines[1:], strict=False):
        key, dash = prev.rstrip(), line.lstrip()
        if key.endswith(":") and not key.lstrip().startswith("#") and dash.startswith("- "):
            return max(0, (len(line) - len(dash)) - (len(key) - len(key.lstrip())))
    return 2


def load_winner(report: Path) -> tuple[Report, ReportTrial]:
    """(the checked report, its best trial) of a report folder or results.json file."""
    loaded = load(report)
    if loaded.best is None:
        raise UserError(summary=f"{loaded.where}: the run has no best trial (nothing met "
                                "every SLO)")
    return loaded, loaded.best


def _set_flags(argv: list[str], params: dict[str, Any], engine: str) -> list[str]:
    """`argv` with each param's flag set to its value (in place if present, else appended)."""
    cat = catalog(engine)
    out = list(argv)
    for name, value in params.items():
        words = flag_words(name, value, cat)
        flag = f"--{name}"
        if flag in out:
            i = out.index(flag)
            j = i + 1
            while j < len(out) and not str(out[j]).startswith("--"):
                j += 1  # the old value(s)
            out[i:j] = words
        else:
            out += words
    return out


def _replace_seq(seq: CommentedSeq, words: list[str]) -> None:
    """Rewrite `seq` in place with `words`, keeping each kept item's quoting style."""
    styles = {str(v): v for v in seq}
    quoted = next((v for v in seq if hasattr(v, "style")), None)
    new = []
    for w in words:
        if w in styles:
            new.append(styles[w])
        elif quoted is not None:
            new.append(type(quoted)(w))
        else:
            new.append(w)
    seq[:] = new


def _argv_lists(node: Any):
    """Every `command`/`args` list of strings under `node` that holds a --flag."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if key in ("command", "args") and isinstance(value, CommentedSeq) and any(
                    str(v).startswith("--") for v in value):
                yield value
            else:
                yield from _argv_lists(value)
    elif isinstance(node, CommentedSeq):
        for value in node:
            yield from _argv_lists(value)


def promote_doc(doc: Any, params: dict[str, Any], engine: str, *, service: str | None = None,
                where: str = "") -> str:
    """Apply `params` to one loaded document; returns what kind of target it was."""
    if not isinstance(doc, CommentedMap):
        raise UserError(summary=f"{where}: not a YAML mapping")
    kind = doc.get("kind")
    if kind == "Experiment":
        args = doc.setdefault("engine", CommentedMap()).setdefault("args", CommentedMap())
        if args is None:
            doc["engine"]["args"] = args = CommentedMap()
        for k, v in params.items():
            args[k] = v
        # a fixed value and a tuned one for the same flag is an error (validate): the
        # promoted flags are the baseline now, so they leave `parameters`
        tuned = doc.get("parameters")
        if isinstance(tuned, CommentedMap):
            for k in params:
                tuned.pop(k, None)
        return "experiment engine.args (the promoted flags leave parameters)"
    if kind in ("ClusterServingRuntime", "InferenceService", "ServingRuntime"):
        lists = list(_argv_lists(doc.get("spec")))
        if not lists:
            raise UserError(summary=f"{where}: no command/args list with engine flags in spec")
        for seq in lists:
            _replace_seq(seq, _set_flags([str(v) for v in seq], params, engine))
        return f"OME {kind}"
    if isinstance(doc.get("services"), CommentedMap):
        services = doc["services"]
        names = [service] if service else list(services)
        if service and service not in services:
            raise UserError(summary=f"{where}: no service {service!r} (has: {', '.join(services)})")
        if len(names) != 1:
            raise UserError(summary=f"{where}: several services ({', '.join(names)}): "
                                    "pick one with --service")
        svc = services[names[0]]
        cmd = svc.get("command")
        if isinstance(cmd, CommentedSeq):
            _replace_seq(cmd, _set_flags([str(v) for v in cmd], params, engine))
        elif isinstance(cmd, str):
            new = shlex.join(_set_flags(shlex.split(cmd), params, engine))
            svc["command"] = type(cmd)(new) if hasattr(cmd, "style") else new
        else:
            raise UserError(summary=f"{where}: service {names[0]!r} has no command to edit")
        return f"compose service {names[0]}"
    raise UserError(summary=f"{where}: not an Experiment, an OME ClusterServingRuntime or "
                            "InferenceService, or a docker compose file")


def promote(report: Path, into: Path | None = None, *, service: str | None = None) -> str:
    loaded, best = load_winner(report)
    target = into or Path(loaded.doc["experiment"]["file"] or "")
    if not target.is_file():
        raise UserError(summary=f"{target}: no such file (give one with --into)")
    text = target.read_text()
    y = _yaml(text)
    try:
        docs = list(y.load_all(text))
    except Exception as exc:  # noqa: BLE001 - any YAML error is the user's file
        raise UserError(summary=f"{target}: not valid YAML ({exc})") from None
    kinds = []
    for d in docs:
        if d is None:
            continue
        kinds.append(promote_doc(d, best.params, loaded.engine, service=service,
                                 where=str(target)))
    buf = io.StringIO()
    if len(docs) == 1:
        y.dump(docs[0], buf)
    else:
        y.dump_all(docs, buf)
    target.write_text(buf.getvalue())
    params = ", ".join(f"{k}={v}" for k, v in best.params.items())
    return f"{target}: {', '.join(kinds)} ← trial {best.trial_id} ({params})"
