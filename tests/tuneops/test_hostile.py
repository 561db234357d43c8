"""Hostile input and a shared machine: what tests/bad/ cannot hold as a committed file.

FIFOs and device files as experiments or configs, a closed stdout, an unusable crash-log
folder, an unsafe runtime dir, planted symlinks, reaping scoped to dead runners, GPUs held
across pools, journal faults, and secrets kept out of everything tuneops writes.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tuneops.deployments.common import fsutil, owners, ports
from tuneops.deployments.common.gpus import GpuPool
from tuneops.deployments.local.backend import LocalBackend
from tuneops.deployments.ome import render as ome
from tuneops.renderers.render import render_experiment
from tuneops.runner import journal

from tests.helpers.polling import wait_until
from tests.paths import ROOT
from tuneops import cli, errors, secrets
from tuneops.plan import make_plan
from tuneops.validate import load_experiment, validate_file

BASE = (ROOT / "tests" / "bad" / "impossible-tp.yaml").read_text().replace("[1, 3]", "[1, 2]")
TOKEN = "hf_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed"


def write(tmp_path: Path, text: str, name: str = "e.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- files that are not files -------------------------------------------------------------
def test_a_fifo_experiment_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "e.yaml"
    os.mkfifo(fifo)  # nobody ever writes: a blocking open or read would hang forever
    _, diags = validate_file(fifo)
    assert [str(d) for d in diags] == [
        f"{fifo}: the experiment file is not a regular file (an experiment is a YAML text file)"
    ]


def test_a_symlink_to_dev_zero_is_refused_before_reading(tmp_path):
    link = tmp_path / "e.yaml"
    link.symlink_to("/dev/zero")
    _, diags = validate_file(link)
    assert [d.message for d in diags] == ["the experiment file is not a regular file"]


def test_a_growing_file_is_read_only_up_to_the_limit(tmp_path):
    from tuneops import yamlio

    path = write(tmp_path, "a" * 100)
    with pytest.raises(ValueError, match="the limit is 10"):
        yamlio.read_bounded(path, 10, "x")
    assert yamlio.read_bounded(path, 100, "x") == b"a" * 100


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder"])
def test_a_config_file_that_is_not_a_regular_file(tmp_path, kind):
    target = tmp_path / "config.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "zero":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    text = BASE.replace(
        "  architecture: {layers: 32, attentionHeads: 32, kvHeads: 8, hiddenSize: 4096, "
        "parameters: 8.03e9}",
        "  configFile: config.json",
    )
    _, diags = validate_file(write(tmp_path, text))
    what = "a directory" if kind == "folder" else "not a regular file"
    assert [(d.path, d.line, d.column, d.message) for d in diags] == [
        ("model.configFile", 11, 15, f"'config.json' is {what}")
    ]


# -- the command line ----------------------------------------------------------------------
def test_validate_into_a_closed_pipe_exits_cleanly():
    bad = sorted(str(p) for p in (ROOT / "experiments" / "examples").glob("*.yaml"))
    proc = subprocess.run(
        f"{sys.executable} -m tuneops.cli validate {' '.join(bad)} | head -1; "
        'echo "rc=${PIPESTATUS[0]}"',
        shell=True, executable="/bin/bash", capture_output=True, text=True, cwd=ROOT,
        check=True,
    )
    assert proc.stdout.splitlines()[-1] == "rc=0"
    assert "BrokenPipe" not in proc.stderr and "Exception ignored" not in proc.stderr


def _crash(monkeypatch, message: str) -> int:
    def boom(args):
        raise RuntimeError(message)

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv: argparse.Namespace(func=boom))
    return cli.main([])


def test_crash_log_goes_to_the_run_folder_redacted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(errors, "crash_dir", str(tmp_path / "run"))
    assert _crash(monkeypatch, f"token {TOKEN}") == errors.EXIT_BUG
    log = (tmp_path / "run" / "crash.log").read_text()
    assert "RuntimeError: token [REDACTED]" in log and TOKEN not in log
    err = capsys.readouterr().err
    assert f"traceback in {tmp_path / 'run' / 'crash.log'}" in err and TOKEN not in err


def test_an_unwritable_log_dir_never_makes_the_handler_raise(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(errors, "crash_dir", None)
    monkeypatch.setenv("TUNEOPS_LOG_DIR", str(blocker / "logs"))  # under a file: unusable
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(blocker / "runtime"))
    assert _crash(monkeypatch, "boom") == errors.EXIT_BUG
    err = capsys.readouterr().err
    assert "no folder was writable for the traceback" in err
    assert "RuntimeError: boom" in err  # the traceback went to stderr instead


def test_an_unwritable_runs_folder_names_the_path(tmp_path, monkeypatch, capsys):
    exp_path = ROOT / "experiments" / "examples" / "sim-small.yaml"
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "runtime"))
    code = cli.main(["run", str(exp_path), "--runs-dir", str(blocker), "--quiet"])
    assert code == errors.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot create {blocker / 'sim-small'}: ")


# -- the runtime dir -----------------------------------------------------------------------
def test_runtime_dir_is_created_private(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "rt"))
    path = ports.runtime_dir()
    assert path == tmp_path / "rt" and (path.stat().st_mode & 0o777) == 0o700


def test_runtime_dir_too_open_is_tightened(tmp_path, monkeypatch):
    (tmp_path / "rt").mkdir(mode=0o777)
    os.chmod(tmp_path / "rt", 0o777)
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "rt"))
    assert (ports.runtime_dir().stat().st_mode & 0o777) == 0o700


def test_runtime_dir_that_is_a_symlink_is_refused(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "rt").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "rt"))
    with pytest.raises(ports.UnsafeRuntimeDir, match="is not a directory"):
        ports.runtime_dir()


@pytest.mark.skipif(os.getuid() != 0, reason="making a folder another user's needs root")
def test_runtime_dir_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    (tmp_path / "rt").mkdir(mode=0o700)
    os.chown(tmp_path / "rt", 4242, 4242)
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "rt"))
    with pytest.raises(ports.UnsafeRuntimeDir) as info:
        ports.runtime_dir()
    assert f"belongs to uid 4242, not to you (uid {os.getuid()})" in str(info.value)
    assert info.value.exit_code == errors.EXIT_USAGE


def test_a_planted_lock_symlink_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    locks = tmp_path / "ports"
    locks.mkdir()
    (locks / "20001.lock").symlink_to(victim)
    with pytest.raises(errors.FileProblem, match="20001.lock"):
        ports.PortAllocator(locks, (20001, 20001)).reserve(20001)
    assert victim.read_text() == "precious"  # not truncated through the link


# -- reaping -------------------------------------------------------------------------------
def _orphan(pid_dir: Path, owner: str, runner: str) -> subprocess.Popen:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    pid_dir.mkdir(parents=True, exist_ok=True)
    (pid_dir / f"{proc.pid}.json").write_text(json.dumps({
        "owner": owner, "runner": runner, "trial": f"t{proc.pid}", "pgid": proc.pid,
        "start_time": owners.start_time(proc.pid), "port": 1, "argv": ["sleep"],
    }))
    return proc


def _dead_runner() -> str:
    gone = subprocess.Popen(["true"])
    gone.wait()
    host, _, _ = owners.me().partition("/")
    return f"{host}/{gone.pid}/1"


def test_reap_leaves_live_runners_engines_alone(tmp_path):
    backend = LocalBackend(runtime_dir=tmp_path / "rt", grace_s=1)
    live = _orphan(backend.pid_dir, "exp-a/run1", owners.me())  # a run in progress
    dead = _orphan(backend.pid_dir, "exp-a/run0", _dead_runner())  # its runner was killed
    try:
        assert backend.reap("") == [f"t{dead.pid}"]
        assert dead.wait(timeout=10) == -signal.SIGTERM
        assert live.poll() is None
        assert (backend.pid_dir / f"{live.pid}.json").exists()
    finally:
        for p in (live, dead):
            p.kill()
            p.wait()


def test_reap_of_an_experiment_reaches_earlier_runs_not_other_experiments(tmp_path):
    backend = LocalBackend(runtime_dir=tmp_path / "rt", grace_s=1)
    earlier = _orphan(backend.pid_dir, "exp-a/20260101T000000Z-aaaa", _dead_runner())
    other = _orphan(backend.pid_dir, "exp-b/20260101T000000Z-bbbb", _dead_runner())
    try:
        assert backend.reap("exp-a/") == [f"t{earlier.pid}"]
        assert other.poll() is None
    finally:
        for p in (earlier, other):
            p.kill()
            p.wait()


def test_runner_liveness_tells_a_reused_pid_apart():
    host, pid, start = owners.me().split("/")
    assert owners.alive(owners.me())
    assert not owners.alive(f"{host}/{pid}/{int(start) + 1}")  # same pid, other process
    assert owners.alive(f"another-host/{pid}/1")  # cannot look: never reaped
    assert owners.alive(None)


# -- GPUs across processes -----------------------------------------------------------------
def test_gpus_are_held_across_pools_like_ports(tmp_path):
    first = GpuPool(["0", "1"], lock_dir=tmp_path / "gpus")
    second = GpuPool(["0", "1"], lock_dir=tmp_path / "gpus")  # another runner, same machine
    held = first.acquire(1)
    assert held == ("0",)
    assert second.acquire(1) == ("1",)  # "0" is taken by the other pool
    with pytest.raises(TimeoutError):
        second.acquire(1, timeout=0.6)
    first.release(held)
    assert second.acquire(1, timeout=5) == ("0",)


def test_gpu_locks_hold_against_another_process(tmp_path):
    code = (
        "import sys, time; from pathlib import Path\n"
        "from tuneops.deployments.common.gpus import GpuPool\n"
        "p = GpuPool(['0'], lock_dir=Path(sys.argv[1])); p.acquire(1); print('held', flush=True)"
        "\ntime.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "gpus")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError):
            GpuPool(["0"], lock_dir=tmp_path / "gpus").acquire(1, timeout=0.6)
    finally:
        holder.kill()
        holder.wait()
    assert GpuPool(["0"], lock_dir=tmp_path / "gpus").acquire(1, timeout=5) == ("0",)


# -- the journal ---------------------------------------------------------------------------
def _exp(tmp_path):
    return load_experiment(write(tmp_path, BASE.replace("name: bad-case", "name: jexp")))


def _finished_line(exp, **changes) -> str:
    """A trial_finished line as the runner writes it for the plan's first trial, changed."""
    trial = make_plan(exp).trials[0]
    result = {"trial_id": trial.id, "index": trial.index, "params": trial.params,
              "args": trial.args, "status": "completed", "attempts": 1,
              "metrics": {"D(100,100)": {"8": {"output_throughput": 1.0}}}}
    result.update(changes)
    return json.dumps({"v": 1, "event": "trial_finished", "trial_id": result["trial_id"],
                       "result": result})


JOURNAL_CASES = {
    "not-an-object": (lambda exp: '{"event": "trial_finished", "result": 5}',
                      "result", "5 is not of type 'object'"),
    "attempts-many": (lambda exp: _finished_line(exp, attempts="many"),
                      "result.attempts", "'many' is not of type 'integer'"),
    "nan-metric": (lambda exp: _finished_line(exp).replace("1.0", "NaN"),
                   "", "NaN is not a number JSON allows"),
    "huge-number": (lambda exp: _finished_line(exp).replace("1.0", "1e999"),
                    "", "the number 1e999 is not finite"),
    "unknown-event": (lambda exp: '{"event": "trial_forged"}', "event",
                      "'trial_forged' is not one of ['run_started', 'trial_started', "
                      "'trial_finished', 'note', 'run_finished']"),
    "not-json": (lambda exp: '{"event": "note", "message": }', "",
                 "not JSON (Expecting value)"),
    "id-not-in-plan": (lambda exp: _finished_line(exp, trial_id="abcdef123456"),
                       "result.trial_id", lambda exp: "trial abcdef123456 is not in this "
                       f"experiment's plan (its params give {make_plan(exp).trials[0].id})"),
    "other-experiment": (lambda exp: json.dumps({"event": "run_started",
                                                 "experiment_hash": "0" * 64}),
                         "experiment_hash", lambda exp: "written for another experiment (hash "
                         f"000000000000…, this one is {journal.experiment_hash(exp)[:12]}…)"),
}


@pytest.mark.parametrize("case", JOURNAL_CASES)
def test_a_bad_journal_record_is_refused_with_its_line_and_nothing_is_used(tmp_path, case):
    exp = _exp(tmp_path)
    make_line, field, message = JOURNAL_CASES[case]
    message = message if isinstance(message, str) else message(exp)
    with journal.open_run(tmp_path / "runs", exp) as run:
        run_dir = run.dir
    path = run_dir / journal.JOURNAL
    with open(path, "a") as f:
        f.write(make_line(exp) + "\n")
        f.write(_finished_line(exp) + "\n")  # a good record after it is not used either
    before = path.read_bytes()
    line = before.count(b"\n") - 1
    with pytest.raises(errors.UserError) as info:
        with journal.open_run(tmp_path / "runs", exp):
            pass
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.path, d.message) == (str(path), line, field, message)
    assert d.hint == "start a new run with --fresh (this journal is kept as it is for you to read)"
    assert info.value.exit_code == errors.EXIT_USAGE
    assert path.read_bytes() == before  # refused before a byte was appended
    with journal.open_run(tmp_path / "runs", exp, fresh=True) as fresh:
        assert fresh.dir != run_dir and not fresh.state.finished


def test_a_fifo_journal_is_refused_without_blocking(tmp_path):
    exp = _exp(tmp_path)
    with journal.open_run(tmp_path / "runs", exp) as run:
        run_dir = run.dir
    (run_dir / journal.JOURNAL).unlink()
    os.mkfifo(run_dir / journal.JOURNAL)  # nobody writes: a blocking read would hang
    with pytest.raises(errors.UserError) as info:
        journal.replay(run_dir, exp)
    assert [d.message for d in info.value.diagnostics] == ["the journal is not a regular file"]


def test_a_full_disk_leaves_no_torn_line_and_the_run_resumes(tmp_path, monkeypatch):
    exp = _exp(tmp_path)
    real_write = os.write
    with journal.open_run(tmp_path / "runs", exp) as run:
        path = run.path
        before = path.read_bytes()

        def half_then_full(fd, data):  # what a disk filling up mid-line does
            if fd == run._fd:
                real_write(fd, bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(fsutil.os, "write", half_then_full)
        with pytest.raises(errors.FileProblem) as info:
            run.note("this line does not fit")
        monkeypatch.setattr(fsutil.os, "write", real_write)
        assert str(info.value) == f"cannot append to {path}: No space left on device"
        assert info.value.exit_code == errors.EXIT_USAGE
        assert path.read_bytes() == before  # the half line was cut back off
    state = journal.replay(path)
    assert not state.torn_tail and state.bad_lines == 0
    with journal.open_run(tmp_path / "runs", exp) as again:
        assert again.resumed and again.path == path


def test_the_run_lock_is_not_followed_through_a_symlink(tmp_path):
    exp = _exp(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    run_dir = tmp_path / "runs" / "jexp" / "20260101T000000Z-x"
    run_dir.mkdir(parents=True)
    (run_dir / journal.LOCK).symlink_to(victim)
    with pytest.raises(errors.FileProblem, match="runner.lock"):
        journal.Run(run_dir, exp, resumed=False)
    assert victim.read_text() == "precious"


# -- secrets -------------------------------------------------------------------------------
def _with_env(text: str, env: str, mode: str = "docker") -> str:
    text = text.replace('env: {HF_HUB_OFFLINE: "1"}', env)
    if mode == "ome":
        text = text.replace(
            "deployment:\n  mode: docker\n  gpus: {count: 4, type: H100}\n",
            "deployment:\n  mode: ome\n  gpus: {count: 4, type: H100}\n  ome:\n"
            "    namespace: llm\n    baseModel: llama-3-1-8b\n    generateRuntime: true\n"
            "    benchmarkStorageUri: pvc://bench/tuneops\n"
            "    modelMetadata: {architecture: LlamaForCausalLM}\n"
            "    generateBaseModel: {storageUri: hf://meta-llama/Llama-3.1-8B-Instruct, "
            "path: /models/llama-3-1-8b, modelFormat: safetensors, "
            "modelFramework: transformers}\n",
        )
    return text


def test_from_env_is_resolved_at_run_time_and_never_written(tmp_path, monkeypatch):
    text = _with_env(BASE, 'env: {HF_HUB_OFFLINE: "1", HF_TOKEN: {fromEnv: MY_HF}}')
    exp = load_experiment(write(tmp_path, text))
    monkeypatch.setenv("MY_HF", "s3cr3t-value-1234")
    summary = render_experiment(exp, tmp_path / "manifests")
    written = "".join(p.read_text() for p in summary.out_dir.rglob("*") if p.is_file())
    assert "s3cr3t" not in written and "MY_HF" in written
    trial = make_plan(exp).trials[0]
    script = (summary.out_dir / trial.id / "docker-run.sh").read_text()
    assert 'HF_TOKEN="${MY_HF}"; export HF_TOKEN  # from your environment\n' in script
    assert "--env HF_TOKEN " in script
    spec = json.loads((summary.out_dir / trial.id / "docker.json").read_text())
    assert spec["environment"] == {"HF_HUB_OFFLINE": "1"}
    env = secrets.engine_env(exp)
    assert env == {"HF_HUB_OFFLINE": "1", "HF_TOKEN": "s3cr3t-value-1234"}
    assert secrets.redact("log: s3cr3t-value-1234 done") == "log: [REDACTED] done"
    report = tmp_path / "r" / "report.md"
    fsutil.write_atomic(report, "token s3cr3t-value-1234")
    assert report.read_text() == "token [REDACTED]"


def test_a_missing_from_env_variable_is_bad_input(tmp_path, monkeypatch):
    text = _with_env(BASE, "env: {HF_TOKEN: {fromEnv: NOT_SET_ANYWHERE}}")
    exp = load_experiment(write(tmp_path, text))
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(errors.UserError) as info:
        secrets.engine_env(exp)
    assert [d.message for d in info.value.diagnostics] == [
        "references $NOT_SET_ANYWHERE, which is not set in the runner's environment"
    ]


def test_ome_env_uses_secret_refs_and_escapes_dollars(tmp_path):
    text = _with_env(
        BASE,
        "env: {HF_TOKEN: {secretKeyRef: {name: hf-token, key: token}}, "
        "GREETING: \"$(HOME) costs $5\"}",
        mode="ome",
    )
    exp = load_experiment(write(tmp_path, text))
    service = ome.inference_service(exp, make_plan(exp).trials[0])
    assert service["spec"]["engine"]["runner"]["env"] == [
        {"name": "GREETING", "value": "$$(HOME) costs $$5"},
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}},
        # measured in the cluster: OME turns this into genai-bench's --api-backend
        {"name": "PROTOCOL_VERSION", "value": "sglang"},
    ]
    summary = render_experiment(exp, tmp_path / "manifests")  # checked against OME's CRDs
    base_model = (summary.out_dir / "_shared" / "clusterbasemodel.yaml").read_text()
    assert 'modelFormat:\n    name: "safetensors"' in base_model


def test_token_shapes_are_redacted_everywhere_written(tmp_path):
    for token in (TOKEN, "ghp_" + "a" * 36, "github_pat_" + "b1" * 41, "sk-" + "c" * 48):
        assert secrets.redact(f"x={token};") == "x=[REDACTED];"
    for word in ("sk-learn-based-model", "hf_transfer", "ghp_short", "my_sk-" + "c" * 48):
        assert secrets.redact(word) == word  # ordinary words are left alone
    assert secrets.redact_data({"m": [TOKEN, 1, True]}) == {"m": ["[REDACTED]", 1, True]}


def test_the_rendered_inference_service_holds_the_reference_only(tmp_path):
    text = _with_env(BASE, "env: {HF_TOKEN: {secretKeyRef: {name: hf, key: t}}}", mode="ome")
    exp = load_experiment(write(tmp_path, text))
    summary = render_experiment(exp, tmp_path / "m")
    service = yaml.safe_load(next(summary.out_dir.rglob("inferenceservice.yaml")).read_text())
    [token] = [e for e in service["spec"]["engine"]["runner"]["env"] if e["name"] == "HF_TOKEN"]
    assert token == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "t"}}}


def test_a_journal_that_fails_mid_run_stops_the_run_resumable(tmp_path, monkeypatch):
    from tuneops.runner.run import RunOptions, run_experiment

    from tests import e2e_helpers

    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "runtime"))
    exp = load_experiment(e2e_helpers.write_experiment(tmp_path, "jfail"))
    real_append = journal.append_line

    def full_disk_at_first_trial(fd, line):
        if b'"trial_started"' in line:
            os.write(fd, line[: len(line) // 2])  # the disk fills up mid-line
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_append(fd, line)

    monkeypatch.setattr(journal, "append_line", full_disk_at_first_trial)
    runs = tmp_path / "runs"
    with pytest.raises(errors.FileProblem, match="cannot append to .*journal.jsonl: No space"):
        run_experiment(exp, RunOptions(runs_root=runs, reports_root=tmp_path / "reports",
                                       quiet=True))
    monkeypatch.setattr(journal, "append_line", real_append)
    run_dir = journal.find_resumable(runs, exp)
    assert run_dir is not None  # the next `tuneops run` resumes this run
    state = journal.replay(run_dir)
    assert not state.torn_tail and state.bad_lines == 0 and not state.unfinished
    assert not list((tmp_path / "runtime" / "local").glob("*.json"))  # no engine left behind


def test_a_missing_secret_stops_the_run_before_anything_is_written(tmp_path, monkeypatch):
    from tuneops.runner.run import RunOptions, run_experiment

    from tests import e2e_helpers

    monkeypatch.delenv("TUNEOPS_NOT_SET", raising=False)
    path = e2e_helpers.write_experiment(
        tmp_path, "nosecret", engine={"env": {"HF_TOKEN": {"fromEnv": "TUNEOPS_NOT_SET"}}}
    )
    with pytest.raises(errors.UserError, match="secrets not available"):
        run_experiment(load_experiment(path), RunOptions(
            runs_root=tmp_path / "runs", reports_root=tmp_path / "reports", quiet=True))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()


def test_a_report_that_cannot_be_written_names_its_folder(tmp_path, monkeypatch):
    from tuneops.runner.report import write_report

    from tests.runner.report_helpers import make_exp, make_results

    exp = make_exp()
    real_write = Path.write_text

    def full_disk(self, data, *args, **kwargs):
        if self.name == "report.md":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    out = tmp_path / "reports" / exp.name / "run1"
    with pytest.raises(errors.FileProblem) as info:
        write_report(out, exp, make_results(exp), run_id="run1", manifests_root=None)
    assert str(info.value) == f"cannot write the report {out}: No space left on device"
    assert not out.exists() and list(out.parent.iterdir()) == []  # nothing half-written


# -- names shared between experiments ------------------------------------------------------
def _twins(tmp_path: Path) -> tuple[Path, Path]:
    src = (ROOT / "experiments" / "examples" / "sim-small.yaml").read_text()
    first = write(tmp_path, src, "a.yaml")
    second = write(tmp_path, src, "b.yaml")
    return first, second


def test_two_experiments_with_one_name_are_refused_together(tmp_path, capsys):
    first, second = _twins(tmp_path)
    assert cli.main(["validate", str(first), str(second)]) == errors.EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert f"{second}:6:9: metadata.name: 'sim-small' is already the name of {first} " \
        "(each experiment needs its own name: it names its manifests/, runs/ and reports/ " \
        "folders)" in err
    assert cli.main(["validate", str(first), str(first)]) == errors.EXIT_OK  # one file twice


def test_render_never_deletes_another_experiments_trials(tmp_path, capsys):
    first, second = _twins(tmp_path)
    out = tmp_path / "manifests"
    assert cli.main(["render", str(first), "--out", str(out)]) == errors.EXIT_OK
    before = sorted(p.name for p in (out / "sim-small").iterdir())
    assert cli.main(["render", str(first), str(second), "--out", str(out)]) == errors.EXIT_USAGE
    assert "is already the name of" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "sim-small").iterdir()) == before


# -- structural redaction ------------------------------------------------------------------
@pytest.mark.parametrize(("value", "reason"), [
    ("true", "it is 4 characters long; a secret needs at least 8"),
    ("null", "it is 4 characters long; a secret needs at least 8"),
    ("2026", "it is 4 characters long; a secret needs at least 8"),
    ("20262026", "it has low entropy (3 distinct characters, 12 bits; a secret needs 5 and 24)"),
    ("aaaaaaaaaaaaaaaa", "it has low entropy (1 distinct characters, 0 bits; a secret needs 5 "
                         "and 24)"),
])
def test_a_weak_secret_is_refused_at_validate_time_with_the_reason(tmp_path, monkeypatch,
                                                                    value, reason):
    monkeypatch.setenv("MY_WEAK", value)
    text = _with_env(BASE, "env: {HF_TOKEN: {fromEnv: MY_WEAK}}")
    _, diags = validate_file(write(tmp_path, text))
    assert [(d.path, d.message) for d in diags] == [
        ("engine.env.HF_TOKEN.fromEnv", f"$MY_WEAK is too weak to be kept secret: {reason}")]
    assert value not in diags[0].hint
    monkeypatch.delenv("MY_WEAK")
    exp = load_experiment(write(tmp_path, text))  # unset at validate time: checked at run time
    monkeypatch.setenv("MY_WEAK", value)
    with pytest.raises(errors.UserError) as info:
        secrets.engine_env(exp)
    assert [d.message for d in info.value.diagnostics] == [
        f"$MY_WEAK is too weak to be kept secret: {reason}"]


@pytest.fixture
def planted(monkeypatch):
    """Secrets shaped like JSON words and numbers (planted past the weakness check, as an
    older tuneops allowed), a secret and a longer one it is a prefix of, and one that is
    not UTF-8 (an environment value is bytes; Python holds it with surrogateescape)."""
    weak = ["true", "null", "2026"]
    strong = ["Kp7#vQ2zLm9x", "Kp7#vQ2zLm9x-Wr4t"]
    raw = os.fsdecode(b"\xff\xfeZ9q!mB3#rT")
    monkeypatch.setattr(secrets, "_values", set(weak + strong + [raw]))
    return weak, strong, raw


def test_redaction_masks_inside_strings_only_and_json_stays_json(planted):
    weak, strong, _ = planted
    record = {"event": "trial_finished", "result": {"simulated": True, "score": None,
              "year": 2026, "reason": f"token {strong[1]} then {strong[0]}.", "ok": "true"}}
    out = json.loads(json.dumps(secrets.redact_data(record)))
    assert out["result"]["simulated"] is True and out["result"]["score"] is None
    assert out["result"]["year"] == 2026  # a number is never a secret's text
    assert out["result"]["reason"] == "token [REDACTED] then [REDACTED]."  # no '-Wr4t' left
    assert out["result"]["ok"] == "[REDACTED]"  # inside a string, even a weak one is masked


def test_a_journal_with_planted_secrets_still_replays(tmp_path, planted):
    exp = _exp(tmp_path)
    trial = make_plan(exp).trials[0]
    from tuneops.runner.results import COMPLETED, TrialResult

    with journal.open_run(tmp_path / "runs", exp) as run:
        run.trial_finished(TrialResult(trial.id, trial.index, trial.params, trial.args,
                                       COMPLETED, reason=f"saw {planted[1][0]}",
                                       simulated=True))
    with journal.open_run(tmp_path / "runs", exp) as again:  # strict replay: every line fits
        (result,) = again.state.finished.values()
        assert result.simulated is True and result.reason == "saw [REDACTED]"
    assert planted[1][0] not in (again.dir / journal.JOURNAL).read_text()


def test_non_utf8_secret_bytes_are_masked_in_logs(planted):
    _, _, raw = planted
    data = b"engine: key=" + os.fsencode(raw) + b" \x80 end\n"
    assert secrets.redact_bytes(data) == b"engine: key=[REDACTED] \x80 end\n"


KILLED_LOGGER = """
import os, subprocess, sys, time
from pathlib import Path
from tuneops import secrets
from tuneops.deployments.common.redacting_log import RedactingLog
secrets.register(os.environ["PLANTED"])
log = RedactingLog(Path(sys.argv[1]))
proc = subprocess.Popen(["sh", "-c", 'echo "key=$PLANTED"; echo done; exec sleep 60'],
                        stdout=log.write_fd, stderr=subprocess.STDOUT, start_new_session=True)
log.close_writer()
print(proc.pid, flush=True)
time.sleep(60)
"""


def test_a_runner_killed_with_9_leaves_no_secret_in_the_engine_log(tmp_path):
    secret = "Qz8#Lm2vWx7pNc4t"
    log = tmp_path / "engine.log"
    runner = subprocess.Popen([sys.executable, "-c", KILLED_LOGGER, str(log)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PLANTED": secret})
    engine_pid = int(runner.stdout.readline())
    try:
        try:  # the asserts below name what the logger wrote, done or not
            wait_until(lambda: "done" in log.read_text(), 10, 0.05, "the logger's 'done'")
        except AssertionError:
            pass
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    finally:
        os.killpg(engine_pid, signal.SIGKILL)  # the engine we started, by its own group
        runner.stdout.close()
    text = log.read_text()
    assert text == "key=[REDACTED]\ndone\n" and secret not in text


# -- the environment -----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value", "message"), [
    ("TUNEOPS_PORT_RANGE", "abc", "is 'abc': expected LOW-HIGH, two port numbers such as "
                                  "20000-29999"),
    ("TUNEOPS_PORT_RANGE", "30000-20000", "is '30000-20000': expected 1024 <= LOW <= HIGH <= "
                                          "65535, got 30000-20000"),
    ("TUNEOPS_PORT_RANGE", "80-90", "is '80-90': expected 1024 <= LOW <= HIGH <= 65535, got "
                                    "80-90"),
    ("TUNEOPS_RUNTIME_DIR", "relative/dir", "is 'relative/dir': must be an absolute path "
                                            "(starting with /)"),
    ("TUNEOPS_LOG_DIR", "/tmp/x\n", "is '/tmp/x\\n': contains U+000A; control and format "
                                    "characters are not allowed"),
    ("TUNEOPS_WORKER_PARENT", "-1", "is '-1': expected a process id"),
])
def test_a_bad_tuneops_variable_is_exit_2_naming_it(monkeypatch, capsys, name, value, message):
    monkeypatch.setenv(name, value)
    exp = str(ROOT / "experiments" / "examples" / "sim-small.yaml")
    assert cli.main(["validate", exp]) == errors.EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        "bad TUNEOPS_* environment variable", f"environment: {name}: {message}"]


def test_an_unknown_tuneops_variable_is_a_warning_with_a_suggestion(monkeypatch, capsys):
    monkeypatch.setenv("TUNEOPS_PORTRANGE", "1")
    exp = str(ROOT / "experiments" / "examples" / "sim-small.yaml")
    assert cli.main(["validate", exp]) == errors.EXIT_OK
    assert "environment: warning: TUNEOPS_PORTRANGE: is not a variable tuneops reads " \
        "(did you mean TUNEOPS_PORT_RANGE?)" in capsys.readouterr().err.splitlines()


def test_the_port_allocator_refuses_a_bad_range_too(monkeypatch):
    monkeypatch.setenv("TUNEOPS_PORT_RANGE", "abc")
    with pytest.raises(errors.UserError) as info:
        ports.port_range()
    assert info.value.diagnostics[0].path == "TUNEOPS_PORT_RANGE"


def test_reap_skips_an_unreachable_docker_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "rt"))
    assert cli.main(["reap", "--backends", "docker", "local"]) == errors.EXIT_OK
    err = capsys.readouterr().err
    assert err.startswith("docker: warning: skipped, the backend is unreachable (InfraFailure: "
                          "no Docker engine answers")


# -- bounded output ------------------------------------------------------------------------
def test_a_huge_key_is_echoed_shortened(tmp_path, capsys):
    key = "x" * 200_000
    text = BASE.replace("  args: {log-level: warning}",  # an explicit key: no length limit
                        f"  args:\n    log-level: warning\n    ? {key}\n    : 1")
    assert cli.main(["validate", str(write(tmp_path, text))]) == errors.EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err) < 2_000 and "…" in err and key not in err


def test_thousands_of_problems_print_fifty_and_a_count(tmp_path, capsys):
    labels = ", ".join(f"bad{i}: 'v a l'" for i in range(3_000))
    text = BASE.replace("labels: {team: serving}", f"labels: {{{labels}}}")
    assert cli.main(["validate", str(write(tmp_path, text))]) == errors.EXIT_USAGE
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == errors.MAX_DIAGNOSTICS + 2
    assert lines[-2] == f"{tmp_path / 'e.yaml'}: ... and {3_000 - errors.MAX_DIAGNOSTICS} more " \
        "problem(s) not shown (fix these first)"
    assert lines[-1] == "3000 error(s) in 1 of 1 file(s)"


def test_constraint_work_over_the_budget_is_refused_with_a_hint(tmp_path):
    from tuneops.checks_space import MAX_CONSTRAINT_EVALUATIONS

    values = ", ".join(str(64 + i) for i in range(25_000))  # x 2 x 2 = 100,000 points
    text = BASE.replace("  max-running-requests: {type: int, low: 64, high: 256, step: 64}",
                        f"  max-running-requests: [{values}]")
    rules = "".join(f'  - "max-running-requests != {i}"\n' for i in range(30))
    text = text.replace('constraints:\n  - "max-running-requests <= 192"\n',
                        "constraints:\n" + rules)
    _, diags = validate_file(write(tmp_path, text))
    assert [(d.path, d.message) for d in diags] == [(
        "constraints", f"checking 30 constraint(s) on 100,000 points is 3,000,000 evaluations; "
        f"the limit is {MAX_CONSTRAINT_EVALUATIONS:,}")]
    assert diags[0].hint.startswith("shrink the grid (fewer values per parameter), or merge")


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_model_or_tokenizer_path_that_is_not_a_file_is_refused(tmp_path, kind):
    from tuneops.runner.bench.command import local_path

    exp = _exp(tmp_path)
    target = tmp_path / "tokenizer.json"
    if kind == "fifo":
        os.mkfifo(target)  # nobody writes: an engine opening it would hang
    else:
        target.symlink_to("/dev/zero")  # endless
    with pytest.raises(errors.UserError) as info:
        local_path(exp, "tokenizer.json")
    assert [d.message for d in info.value.diagnostics] == [
        f"'tokenizer.json' is not a regular file or a folder ({target.resolve()})"]
    assert local_path(exp, str(tmp_path)) == str(tmp_path)  # a folder is fine
