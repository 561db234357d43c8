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

from tuneops import cli, errors, secrets
from tuneops.plan import make_plan
from tuneops.validate import load_experiment, validate_file

ROOT = Path(__file__).resolve().parents[1]
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


def test_wrong_shape_journal_lines_are_skipped(tmp_path):
    exp = _exp(tmp_path)
    with journal.open_run(tmp_path / "runs", exp) as run:
        run_dir = run.dir
    with open(run_dir / journal.JOURNAL, "a") as f:
        f.write('{"event": "trial_finished", "result": 5}\n')
        f.write('{"event": "trial_started"}\n')
        f.write('{"event": "trial_finished", "result": {"trial_id": []}}\n')
    state = journal.replay(run_dir)
    assert state.bad_lines == 3 and state.finished == {}
    with journal.open_run(tmp_path / "runs", exp) as run:  # and the run resumes
        assert run.dir == run_dir


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
    fd = os.open(tmp_path / "j", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    fsutil.append_line(fd, f'{{"m": "{TOKEN}"}}'.encode())
    os.close(fd)
    assert (tmp_path / "j").read_text() == '{"m": "[REDACTED]"}\n'


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

    from tests.test_report import make_exp, make_results

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
