"""Rendered engine commands, read back out of every file that carries one, and checked
against what the engine's real argument parser makes of them.

`commands(exp)` renders an experiment in memory and returns each engine argv the way the
engine would receive it: docker.json's `command`, docker-run.sh after POSIX shell word
splitting, the local command.json argv (its `{port}` filled in as the local backend does),
and the OME runtime and InferenceService commands after Kubernetes' `$(VAR)` expansion.
`problems(...)` compares the parsed namespace with what each fixed and tuned flag should
have delivered. The parsers run in their venvs (scripts/catalogs/venvs.py).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from tuneops.renderers.render import render_tree

from tuneops import registry, spec, yamlio
from tuneops.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from catalogs import fromparser, venvs  # noqa: E402

# What OME sets in the container: $(MODEL_PATH) and friends.
OME_ENV = {"MODEL_PATH": "/mnt/models/model", "SERVED_MODEL_NAME": "model",
           "PARALLELISM_SIZE": "1"}
LOCAL_PORT = "30123"  # stands for the port the local backend reserves


@dataclass(frozen=True)
class Rendered:
    where: str  # experiment/trial/file
    words: tuple[str, ...]  # the argv after the engine's entry point
    flags: tuple[tuple[str, Any], ...]  # every flag the command must deliver (name, value)


def k8s_expand(word: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of a container command word: $(VAR) -> its value (left as is
    when unset), $$ -> $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), word)


def load(path: Path) -> spec.Experiment:
    return spec.from_document(yamlio.to_plain(yamlio.load(path)))


def _after(prefix: tuple[str, ...], argv: list[str], where: str) -> list[str]:
    assert tuple(argv[: len(prefix)]) == prefix, f"{where}: {argv[:4]} does not start {prefix}"
    return argv[len(prefix):]


def _docker_run_words(exp: spec.Experiment, script: str) -> list[str]:
    line = next(ln for ln in script.splitlines() if ln.startswith("docker run "))
    words = shlex.split(line)  # the POSIX shell's word splitting and quote removal
    return words[words.index(exp.engine.image) + 1:]


def commands(exp: spec.Experiment) -> list[Rendered]:
    """Every engine argv the rendered files of `exp` carry."""
    files = render_tree(exp)[0]
    yaml = YAML(typ="safe")
    trials = {t.id: t for t in make_plan(exp).trials}
    out = []
    for rel, text in sorted(files.items()):
        folder, _, name = rel.rpartition("/")
        trial = trials.get(folder)
        flags = tuple({**exp.engine.args, **(trial.params if trial else {})}.items())
        where = f"{exp.name}/{rel}"
        if name == "docker.json":
            argv = json.loads(text)["command"]
        elif name == "docker-run.sh":
            argv = _docker_run_words(exp, text)
        elif name == "command.json":
            argv = [w.replace("{port}", LOCAL_PORT) for w in json.loads(text)["argv"]]
        elif name in ("inferenceservice.yaml", "clusterservingruntime.yaml"):
            doc = yaml.load(text)
            runner = (doc["spec"]["engine"]["runner"] if name == "inferenceservice.yaml"
                      else doc["spec"]["engineConfig"]["runner"])
            argv = [k8s_expand(w, OME_ENV) for w in [*runner.get("command", []),
                                                      *runner.get("args", [])]]
            if name == "clusterservingruntime.yaml":
                flags = tuple(exp.engine.args.items())
        else:
            continue
        engine = registry.engines()[exp.engine.name]
        prefix = {"docker.json": engine.image_command, "docker-run.sh": engine.image_command,
                  "command.json": engine.local_command}.get(name, engine.command)
        out.append(Rendered(where, tuple(_after(prefix, argv, where)), flags))
    return out


def fromparser_jsonable(ns: dict) -> dict:
    """A namespace as realparser.py reports it (JSON round trip)."""
    return json.loads(json.dumps(ns, default=str))


def parse(engine: str, words: list[tuple[str, ...]]) -> list[dict]:
    """The engine's real parser on each argv; fails loudly when its venv is not built."""
    if not venvs.ready(engine):
        raise fromparser.ParserMissing(venvs.missing_message(engine))
    return fromparser.parse(engine, [list(w) for w in words])


# --------------------------------------------------------------------------- expected values


def _size(flag: registry.Flag, text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text.strip())
    if match:
        return int(float(match[1]) * dict(flag.sizes)[match[2]])
    return int(text)


def _scalar(flag: registry.Flag, value: Any) -> Any:
    kind = flag.type
    if kind == "int" or (kind.startswith("int-or-") and isinstance(value, int)):
        return int(value)
    if kind.startswith("int-or-"):
        if value == "auto":
            return flag.auto_value
        return _size(flag, str(value))
    if kind == "float":
        return float(value)
    if kind in ("json", "json-or-str") and isinstance(value, str) and kind == "json":
        return json.loads(value)
    if kind == "comma-list":
        return [str(v) for v in (value if isinstance(value, list) else str(value).split(","))]
    if isinstance(value, (dict, list)):
        return value
    return value if kind == "bool" else str(value)


def intended(cat: registry.Catalog, name: str, value: Any) -> tuple[str, Any]:
    """(the parser's attribute, the value it should hold) for flag `name` set to `value`."""
    canonical, value = cat.normalize(name, value)
    flag = cat.flags[canonical]
    dest = flag.dest or canonical.replace("-", "_")
    if flag.boolean:
        return dest, (not value) if flag.action == "store_false" else value
    if isinstance(value, list) and flag.type not in ("json", "json-or-str", "comma-list"):
        return dest, [_scalar(flag, v) for v in value]
    return dest, _scalar(flag, value)


def _matches(got: Any, want: Any) -> bool:
    """Equal, where a mapping may hold more keys than asked for (vLLM fills a config
    dataclass's defaults in) and a comma-list compares as words."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _matches(got[k], v)
                                             for k, v in want.items())
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(_matches(g, w) or str(g) == str(w)
                                             for g, w in zip(got, want, strict=True))
    if isinstance(want, float) and isinstance(got, (int, float)):
        return abs(got - want) < 1e-12
    return got == want and type(got) is type(want) if isinstance(want, bool) else got == want


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:119] + "…"


def problems(exp: spec.Experiment, rendered: Rendered, result: dict) -> list[str]:
    """What the parser refused or got wrong in one rendered command ([] when all is well)."""
    if "error" in result:
        return [f"{rendered.where}: the parser refused it: {result['error']}"]
    cat = registry.catalog(exp.engine.name)
    ns = result["args"]
    out = []
    for name, value in rendered.flags:
        dest, want = intended(cat, name, value)
        if dest not in ns:
            out.append(f"{rendered.where}: {name}={value!r}: no attribute {dest}")
        elif not _matches(ns[dest], want):
            out.append(f"{rendered.where}: {name}={value!r}: parsed {_short(ns[dest])}, "
                       f"intended {want!r}")
    return out


# --------------------------------------------------------------------------- coverage experiments

# Flags a generated experiment leaves alone: `config` reads a file while parsing, and
# cuda-graph-config's parser takes only its own keys, which the catalog does not list.
SKIP = {"config", "cuda-graph-config"}
PER_EXPERIMENT = 3  # tuned flags per generated experiment (2 values each: 8 trials)


def kind(flag: registry.Flag) -> tuple:
    """What makes two flags render and parse alike."""
    if flag.boolean:
        default = "false" if flag.default is False else "true" if flag.default else "none"
        return ("bool", flag.action, default, bool(flag.negations))
    return (flag.action, flag.type, str(flag.nargs), bool(flag.choices))


def _one(flag: registry.Flag, i: int) -> Any:
    """The i-th (0 or 1) sample value for one word of `flag`."""
    if flag.choices:
        words = [c for c in flag.choices if c is not None]
        return words[min(i, len(words) - 1)]
    t = flag.type
    if t.startswith("int-or-"):
        binary = next(s for s in ("Ki", "K") if s in dict(flag.sizes))
        return ["auto" if "auto" in t else "2.5k", f"8{binary}", 4096][i]
    return {"int": [2, 3], "float": [0.5, 0.75], "comma-list": [["0", "1"], "2,3"],
            "bool": ["true", "false"]}.get(t, ["alpha", "beta"])[i]


def _json_sample(flag: registry.Flag, i: int) -> Any:
    default = flag.default
    if isinstance(default, dict) and default:
        key = sorted(k for k, v in default.items() if isinstance(v, (int, float, str, bool))
                     and v is not None) or sorted(default)
        return {key[min(i, len(key) - 1)]: default[key[min(i, len(key) - 1)]]}
    if isinstance(default, list) and default:
        return [default, ["x", "y"]][i]
    return [{"a": 1}, ["x", "y"]][i] if flag.type == "json" else [{"a": 1}, "word"][i]


def samples(flag: registry.Flag) -> list[Any]:
    """Two values to tune `flag` over (one where only true is possible)."""
    if flag.boolean:
        return [True] if flag.off_spelling == "" else [True, False]
    if flag.type in ("json", "json-or-str"):
        return [_json_sample(flag, 0), _json_sample(flag, 1)]
    if flag.type.startswith("int-or-"):
        return [_one(flag, 0), _one(flag, 1), _one(flag, 2)]
    if flag.nargs not in (None, "?") or flag.action in ("append", "extend"):
        n = flag.nargs if isinstance(flag.nargs, int) else 2
        return [[_one(flag, 0)] * n, [_one(flag, 1)] * n]
    return [_one(flag, 0), _one(flag, 1)]


def representatives(engine: str) -> dict[tuple, registry.Flag]:
    """One flag per kind (the first by name), skipping those tuneops owns."""
    cat = registry.catalog(engine)
    eng = registry.engines()[engine]
    owned = {cat.by_alias.get(f.lstrip("-"), f.lstrip("-")) for f in
             (eng.host_flag, eng.port_flag, eng.served_name_flag, eng.model_flag or "--model")}
    out: dict[tuple, registry.Flag] = {}
    for name, flag in sorted(cat.flags.items()):
        if name in owned or name in SKIP:
            continue
        out.setdefault(kind(flag), flag)
    return out


BASE = {
    "apiVersion": "tuneops/v1", "kind": "Experiment",
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "servedName": "llama",
              "tokenizer": "assets/tokenizer",
              "architecture": {"layers": 32, "attentionHeads": 32, "kvHeads": 8,
                               "hiddenSize": 4096, "parameters": 8.03e9}},
    "benchmark": {"task": "text-to-text", "trafficScenarios": ["D(128,128)"],
                  "concurrency": [1], "maxTimePerRun": 1, "maxRequestsPerRun": 10},
    "objective": {"metric": "output_throughput_per_gpu", "concurrency": 1},
    "search": {"method": "grid"},
}
IMAGES = {"sglang": "lmsysorg/sglang:v0.5.5", "vllm": "vllm/vllm-openai:v0.33.0"}
DEPLOYMENTS = {
    "docker": {"mode": "docker", "gpus": {"count": 1, "type": "H100"}},
    "local": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
    "ome": {"mode": "ome", "gpus": {"count": 1, "type": "H100"},
            "ome": {"namespace": "tuneops", "baseModel": "llama-3-1-8b-instruct",
                    "generateRuntime": True,
                    "modelMetadata": {"architecture": "LlamaForCausalLM",
                                      "transformersVersion": "4.43.0.dev0"},
                    "benchmarkStorageUri": "pvc://bench-results/tuneops"}},
}
# Spellings other than the canonical one, given as fixed flags, and a value that needs
# quoting in docker-run.sh and `$$` escaping in OME manifests.
SPELLINGS = {
    "sglang": {"tensor-parallel-size": 1, "no-enable-tf32-matmul": True,
               "no-dllm-fdfo": False, "model-checksum": "abc",
               "api-key": "s3$(cret) 'q' \"d\" $HOME `x`"},  # shell and Kubernetes quoting
    "vllm": {"tp": 1, "q": "fp8", "ep": False, "disable-log-deltas": True,
             "disable-prefix-caching": True, "cc": {"mode": 3},
             "allowed-origins": ["*"]},
}


def experiments(engine: str) -> list[dict]:
    """Experiments (as documents) that tune one flag of every kind, in every mode, plus one
    that sets flags under their other spellings."""
    cat = registry.catalog(engine)
    flags = list(representatives(engine).values())
    chunks = [flags[i:i + PER_EXPERIMENT] for i in range(0, len(flags), PER_EXPERIMENT)]
    out = []
    for mode, deployment in DEPLOYMENTS.items():
        engine_doc = {"name": engine, "version": cat.version}
        if mode != "local":
            engine_doc["image"] = IMAGES[engine]
        for i, chunk in enumerate(chunks):
            doc = json.loads(json.dumps(BASE))
            doc["metadata"] = {"name": f"cover-{engine}-{mode}-{i}"}
            doc["engine"] = dict(engine_doc)
            doc["deployment"] = deployment
            doc["parameters"] = {f.name: samples(f) for f in chunk}
            out.append(doc)
        doc = json.loads(json.dumps(BASE))
        doc["metadata"] = {"name": f"cover-{engine}-{mode}-spellings"}
        doc["engine"] = {**engine_doc, "args": SPELLINGS[engine]}
        doc["deployment"] = deployment
        doc["parameters"] = {}
        out.append(doc)
    return out
