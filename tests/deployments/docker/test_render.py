"""The engine argv, the Docker run spec and its `docker run` line."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest
from tuneops.deployments.docker.render import docker_argv, expand_host_paths, run_spec
from tuneops.renderers.command import args_words, engine_command, flag_words
from tuneops.renderers.render import render_trial

from tuneops import spec, yamlio
from tuneops.plan import make_plan
from tuneops.registry import Catalog, Flag, catalog, engines

EXAMPLES = Path(__file__).resolve().parents[3] / "experiments" / "examples"


def document(name: str) -> dict:
    return yamlio.to_plain(yamlio.load(EXAMPLES / name))


def experiment(doc: dict) -> spec.Experiment:
    return spec.from_document(copy.deepcopy(doc))


def first_trial(exp):
    return make_plan(exp).trials[0]


def test_engine_command_order_and_boolean_flags():
    exp = experiment(document("sglang-docker.yaml"))
    args = {"zeta": 1, "alpha": "x", "on": True, "off": False, "frac": 0.85}
    argv = engine_command(exp, args, host="0.0.0.0", port=30000, local=False)
    assert argv == [
        "python3", "-m", "sglang.launch_server",
        "--model-path", "meta-llama/Llama-3.1-8B-Instruct",
        "--served-model-name", "llama-3.1-8b",
        "--host", "0.0.0.0", "--port", "30000",
        "--alpha", "x", "--frac", "0.85", "--on", "--zeta", "1",
    ]


def test_positional_model_and_local_command():
    doc = document("sglang-docker.yaml")
    doc["engine"]["name"] = "vllm"
    argv = engine_command(experiment(doc), {}, host="h", port=1, local=False)
    assert argv[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct"]
    quick = experiment(document("quickstart.yaml"))
    local = engine_command(quick, {}, host="127.0.0.1", port="{port}", local=True)
    assert local[:3] == list(engines()["llamacpp"].local_command)
    assert local[-2:] == ["--port", "{port}"]


def test_lists_follow_the_catalog_nargs():
    flags = {
        "many": Flag("many", "str", False, None, None, (), "+"),
        "pair": Flag("pair", "int", False, None, None, (), 2),
        "one": Flag("one", "str", False, None, None, (), None),
        "each": Flag("each", "str", False, None, None, (), None, action="append"),
        "switch": Flag("switch", "bool", True, None, False, (), action="store_true"),
        "mode": Flag("mode", "str", False, None, None, ()),
        "cfg": Flag("cfg", "json", False, None, None, ()),
        "ids": Flag("ids", "comma-list", False, None, None, ()),
    }
    cat = Catalog("x", "x", "1", flags, {n: n for n in flags}, {})
    assert flag_words("many", ["a", "b"], cat) == ["--many", "a", "b"]
    assert flag_words("pair", [1, 2], cat) == ["--pair", "1", "2"]
    assert flag_words("each", ["a", "b"], cat) == ["--each", "a", "--each", "b"]
    with pytest.raises(ValueError, match="--one takes one value"):
        flag_words("one", ["a", "b"], cat)
    assert flag_words("unknown", [1, 2], cat) == ["--unknown", "1", "2"]
    assert flag_words("switch", False, cat) == []
    assert flag_words("mode", False, cat) == ["--mode", "false"]  # a value, not a switch
    assert flag_words("cfg", {"b": 1, "a": [2]}, cat) == ["--cfg", '{"a":[2],"b":1}']
    assert flag_words("cfg", ["*"], cat) == ["--cfg", '["*"]']  # one JSON word, not one per item
    assert flag_words("ids", [0, 1], cat) == ["--ids", "0,1"]


def test_booleans_say_false_where_leaving_them_out_would_not():
    """A tuned false is written with the inverse spelling unless the default is false."""
    flags = {
        "on-by-default": Flag("on-by-default", "bool", True, None, True, (),
                              action="boolean_optional", negations=("--no-on-by-default",)),
        "auto": Flag("auto", "bool", True, None, None, (), action="enable_disable",
                     negations=("--disable-auto",)),
        "off": Flag("off", "bool", True, None, False, (), action="enable_disable",
                    negations=("--disable-off",)),
        "maybe": Flag("maybe", "bool", True, None, None, (), action="store_true"),
    }
    negated = {"no-on-by-default": "on-by-default", "disable-auto": "auto",
               "disable-off": "off"}
    cat = Catalog("x", "x", "1", flags, {n: n for n in flags}, negated)
    assert flag_words("on-by-default", False, cat) == ["--no-on-by-default"]
    assert flag_words("on-by-default", True, cat) == ["--on-by-default"]
    assert flag_words("auto", False, cat) == ["--disable-auto"]
    assert flag_words("off", False, cat) == []  # leaving it out already means false
    assert flag_words("disable-auto", True, cat) == ["--disable-auto"]  # normalised
    assert flag_words("disable-auto", False, cat) == ["--auto"]
    with pytest.raises(ValueError, match="cannot be set false"):
        flag_words("maybe", False, cat)


def test_vllm_spellings_render_as_canonical_long_names():
    """vLLM's single-dash aliases (-tp, -ep, -cc) are never written as --tp."""
    cat = catalog("vllm")
    assert flag_words("tp", 2, cat) == ["--tensor-parallel-size", "2"]
    assert flag_words("-ep", True, cat) == ["--enable-expert-parallel"]
    assert flag_words("cc", {"mode": 3}, cat) == ["--compilation-config", '{"mode":3}']
    assert flag_words("enable-prefix-caching", False, cat) == ["--disable-prefix-caching"]
    assert flag_words("allowed-origins", ["*"], cat) == ["--allowed-origins", '["*"]']
    assert args_words({"tp": 2, "enable-chunked-prefill": False}, cat) == [
        "--disable-chunked-prefill", "--tensor-parallel-size", "2"]


def test_run_spec_has_exactly_the_sdk_keyword_arguments():
    exp = experiment(document("sglang-docker.yaml"))
    trial = first_trial(exp)
    got = run_spec(exp, trial)
    assert set(got) == {
        "image", "command", "environment", "ports", "device_requests", "shm_size",
        "ipc_mode", "volumes", "labels", "name", "detach",
    }
    assert got["command"] == engine_command(
        exp, trial.args, host="0.0.0.0", port=30000, local=False
    )
    assert got["ports"] == {"30000/tcp": None}
    assert got["device_requests"] == [{"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}]
    assert got["volumes"] == {
        "~/.cache/huggingface": {"bind": "/root/.cache/huggingface", "mode": "ro"}
    }
    assert got["labels"]["io.tuneops.experiment"] == exp.name
    assert got["labels"]["io.tuneops.trial"] == trial.id
    assert got["name"] == f"tuneops-{exp.name}-{trial.id}"
    assert got["detach"] is True
    assert got["environment"] == {"HF_HUB_OFFLINE": "1"}


def test_device_ids_and_the_simulator_needs_no_gpu():
    doc = document("sglang-docker.yaml")
    doc["deployment"]["gpus"] = {"devices": ["2", "3"], "type": "H100"}
    got = run_spec(experiment(doc), first_trial(experiment(doc)))
    assert got["device_requests"][0]["device_ids"] == ["2", "3"]
    assert "--gpus" in (argv := docker_argv(got))
    assert argv[argv.index("--gpus") + 1] == '"device=2,3"'
    sim = experiment(document("sim-small.yaml"))
    assert "device_requests" not in run_spec(sim, first_trial(sim))


def test_docker_run_line_splits_back_into_the_spec_argv():
    doc = document("sglang-docker.yaml")
    doc["engine"]["args"]["weird"] = "'; rm -rf / # $(id) {{ 7*7 }}\nnext"
    doc["engine"]["env"]["QUOTE"] = 'a "b" c'
    exp = experiment(doc)
    trial = first_trial(exp)
    files = render_trial(exp, trial)
    spec_back = json.loads(files["docker.json"])
    assert spec_back == run_spec(exp, trial)
    header, line = files["docker-run.sh"].split("\ndocker run ", 1)
    assert all(h.startswith("#") for h in header.splitlines())
    argv = shlex.split("docker run " + line)
    assert argv == docker_argv(spec_back)
    assert argv[-len(spec_back["command"]) :] == spec_back["command"]
    assert "'; rm -rf / # $(id) {{ 7*7 }}\nnext" in argv
    assert "49" not in files["docker-run.sh"]
    assert "--volume" in argv and "~/.cache/huggingface:/root/.cache/huggingface:ro" in argv


def test_home_is_expanded_at_run_time_not_render_time(monkeypatch, tmp_path):
    exp = experiment(document("sglang-docker.yaml"))
    trial = first_trial(exp)
    monkeypatch.setenv("HOME", "/home/one")
    first = render_trial(exp, trial)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert render_trial(exp, trial) == first
    assert "/home/one" not in json.dumps(first)
    expanded = expand_host_paths(run_spec(exp, trial))
    assert list(expanded["volumes"]) == [f"{tmp_path}/.cache/huggingface"]


def test_a_trial_without_an_image_cannot_run_in_docker():
    doc = document("sglang-docker.yaml")
    del doc["engine"]["image"]
    with pytest.raises(Exception, match="image"):
        run_spec(experiment(doc), first_trial(experiment(doc)))


# ------------------------------------------------------------------ llama.cpp's server image


def test_llamacpp_image_gets_only_the_servers_arguments_and_the_model_folder():
    """ghcr.io/ggml-org/llama.cpp:server's ENTRYPOINT is /app/llama-server: the command is
    its arguments, the model file's folder is mounted read-only at /models."""
    exp = experiment(document("llamacpp-docker.yaml"))
    plan = make_plan(exp)
    assert len(plan.trials) == 8
    for trial in plan.trials:
        got = run_spec(exp, trial)
        command = got["command"]
        assert command[:8] == [
            "--model", "/models/tuneops-llama-small-q8_0-s0.gguf", "--alias", "tuneops-small",
            "--host", "0.0.0.0", "--port", "8080",
        ]
        assert "llama-server" not in command and "python3" not in command
        assert got["image"] == "ghcr.io/ggml-org/llama.cpp:server"
        assert got["volumes"] == {".cache/models": {"bind": "/models", "mode": "ro"}}
        assert got["ports"] == {"8080/tcp": None}
        assert "device_requests" not in got  # gpus: {count: 0}
        for name, value in trial.args.items():  # every tuned and fixed flag, with its value
            flag = f"--{name}"
            assert flag in command, name
            if value is not True:
                assert command[command.index(flag) + 1] == str(value), name


def test_llamacpp_docker_run_line_is_the_spec_argv():
    exp = experiment(document("llamacpp-docker.yaml"))
    trial = first_trial(exp)
    files = render_trial(exp, trial)
    spec_back = json.loads(files["docker.json"])
    assert spec_back == run_spec(exp, trial)
    argv = shlex.split("docker run " + files["docker-run.sh"].split("\ndocker run ", 1)[1])
    assert argv == docker_argv(spec_back)
    image_at = argv.index("ghcr.io/ggml-org/llama.cpp:server")
    assert argv[image_at + 1 :] == spec_back["command"]
    # a relative host folder is `./…` for the docker CLI (a bare word is a named volume)
    assert argv[argv.index("--volume") + 1] == "./.cache/models:/models:ro"


def test_llamacpp_command_parses_as_llama_server_flags():
    """Every word of the container command is a llama-server flag the launcher (which parses
    llama-server's own names) accepts, with the trial's values."""
    from tuneops.engines.llamacpp.flags import parser

    exp = experiment(document("llamacpp-docker.yaml"))
    for trial in make_plan(exp).trials:
        args = parser().parse_args(run_spec(exp, trial)["command"])
        assert args.model == "/models/tuneops-llama-small-q8_0-s0.gguf"
        assert (args.parallel, args.threads, args.batch_size) == (
            trial.params["parallel"], trial.params["threads"], trial.params["batch-size"]
        )


@pytest.mark.parametrize(("model_id", "host"), [
    ("/srv/models/m.gguf", "/srv/models"),
    ("~/models/m.gguf", "~/models"),
    ("../models/M.GGUF", "../models"),
    ("m.gguf", "."),
])
def test_model_file_folder_is_mounted_as_written(model_id, host):
    doc = document("llamacpp-docker.yaml")
    doc["model"]["id"] = model_id
    exp = experiment(doc)
    got = run_spec(exp, first_trial(exp))
    assert got["volumes"] == {host: {"bind": "/models", "mode": "ro"}}
    assert got["command"][1] == "/models/" + model_id.rsplit("/", 1)[-1]


def test_hub_model_ids_are_not_mounted():
    exp = experiment(document("sglang-docker.yaml"))
    got = run_spec(exp, first_trial(exp))
    assert "/models" not in [m["bind"] for m in got["volumes"].values()]
    assert got["command"][:5] == [
        "python3", "-m", "sglang.launch_server", "--model-path", "meta-llama/Llama-3.1-8B-Instruct"
    ]


def test_a_volume_on_the_model_mount_is_refused():
    doc = document("llamacpp-docker.yaml")
    doc["deployment"]["docker"] = {"volumes": [{"host": "/data", "container": "/models"}]}
    with pytest.raises(Exception, match="/models holds the model's folder"):
        run_spec(experiment(doc), first_trial(experiment(doc)))
    doc["deployment"]["docker"] = {"volumes": [{"host": ".cache/models", "container": "/x"}]}
    with pytest.raises(Exception, match="mounted twice"):
        run_spec(experiment(doc), first_trial(experiment(doc)))


def test_relative_host_paths_are_resolved_at_run_time(tmp_path, monkeypatch):
    exp = experiment(document("llamacpp-docker.yaml"))
    spec_ = run_spec(exp, first_trial(exp))
    monkeypatch.chdir(tmp_path)
    assert list(expand_host_paths(spec_)["volumes"]) == [f"{tmp_path}/.cache/models"]
    seen = []

    def resolve(path: str) -> str:
        seen.append(path)
        return f"/repo/{path}"

    assert list(expand_host_paths(spec_, resolve)["volumes"]) == ["/repo/.cache/models"]
    assert seen == [".cache/models"]
    assert spec_["volumes"] == {".cache/models": {"bind": "/models", "mode": "ro"}}  # a copy


def test_vllm_image_entrypoint_is_vllm_serve_so_command_starts_with_the_model():
    """vllm/vllm-openai's ENTRYPOINT is `vllm serve`: repeating it would make the server see
    `vllm serve vllm serve MODEL`. Local runs still start with `vllm serve`."""
    doc = document("sglang-docker.yaml")
    doc["engine"] = {"name": "vllm", "image": "vllm/vllm-openai:v0.33.0", "args": {}}
    doc["parameters"] = {"max-num-seqs": [64, 128]}
    doc["constraints"] = []
    exp = experiment(doc)
    trial = first_trial(exp)
    command = run_spec(exp, trial)["command"]
    assert engines()["vllm"].image_command == ()
    assert command[0] == exp.model.id and "vllm" not in command[:2]
    assert command[command.index("--max-num-seqs") + 1] == "64"
    local = engine_command(exp, trial.args, host="127.0.0.1", port=1, local=True)
    assert local[:3] == ["vllm", "serve", exp.model.id]
