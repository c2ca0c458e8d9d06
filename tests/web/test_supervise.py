"""``make run``'s process manager: a crashed process is started again, Ctrl-C stops them all."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from pynomaly_web.supervise import procfile

ROOT = Path(__file__).resolve().parents[2]


def test_the_procfile_lists_the_processes_make_run_supervises():
    assert list(procfile(ROOT / "Procfile"))[:3] == ["web", "worker", "beat"]


def _pid(var: Path, name: str) -> int:
    """The process's pid as supervisord reports it (0 while it is not running)."""
    ctl = Path(sys.executable).with_name("supervisorctl")
    out = subprocess.run(
        [str(ctl), "-c", str(var / "supervisord.conf"), "pid", name], capture_output=True, text=True
    ).stdout.strip()
    return int(out) if out.isdigit() else 0


def _wait(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_killed_process_is_started_again_and_sigint_stops_every_one(tmp_path):
    up = "import os, time; print('{name} up', os.getpid(), flush=True); time.sleep(600)"
    (tmp_path / "Procfile").write_text(
        f'a: {sys.executable} -c "{up.format(name="a")}"\n'
        f'b: {sys.executable} -c "{up.format(name="b")}"\n'
    )
    var = tmp_path / "var"
    manager = subprocess.Popen(
        [sys.executable, "-m", "pynomaly_web.supervise", "--procfile", str(tmp_path / "Procfile")]
        + ["--var", str(var)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _pid(var, "a") and _pid(var, "b"), "both processes start")
        first_a, b = _pid(var, "a"), _pid(var, "b")
        os.kill(first_a, signal.SIGKILL)
        _wait(lambda: _pid(var, "a") not in (0, first_a), "the killed process is started again")
        assert _pid(var, "b") == b  # the other one kept running
        second_a = _pid(var, "a")
        manager.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert manager.wait(timeout=60) == 0
        for pid in (second_a, b):
            _wait(lambda pid=pid: not psutil.pid_exists(pid), f"process {pid} stopped", 10)
    finally:
        if manager.poll() is None:
            manager.kill()


def test_scale_runs_copies_of_a_process_and_restarts_each(tmp_path):
    up = "import os, time; print('a up', os.getpid(), flush=True); time.sleep(600)"
    (tmp_path / "Procfile").write_text(f'a: {sys.executable} -c "{up}"\nb: true\n')
    var = tmp_path / "var"
    manager = subprocess.Popen(
        [sys.executable, "-m", "pynomaly_web.supervise", "--procfile", str(tmp_path / "Procfile")]
        + ["--var", str(var), "--scale", "a=2", "a"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        copies = ("a:a-0", "a:a-1")
        _wait(lambda: all(_pid(var, c) for c in copies), "both copies start")
        first, second = (_pid(var, c) for c in copies)
        assert first != second
        os.kill(first, signal.SIGKILL)
        _wait(lambda: _pid(var, "a:a-0") not in (0, first), "the killed copy is started again")
        assert _pid(var, "a:a-1") == second
        manager.send_signal(signal.SIGINT)
        assert manager.wait(timeout=60) == 0
    finally:
        if manager.poll() is None:
            manager.kill()


def test_scale_refuses_what_is_not_a_count_or_not_in_the_procfile(tmp_path, capsys):
    import pytest

    from pynomaly_web.supervise import main

    (tmp_path / "Procfile").write_text("a: true\n")
    for bad, message in (("a=0", "expected NAME=N"), ("a=x", "expected NAME=N"), ("z=2", "not in")):
        with pytest.raises(SystemExit) as exit_:
            main(["--procfile", str(tmp_path / "Procfile"), "--var", str(tmp_path), "--scale", bad])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


def test_the_metrics_directory_is_set_up_empty_for_every_process(tmp_path, monkeypatch):
    from pynomaly_web.supervise import prometheus_dir

    # setenv first, so monkeypatch puts back whatever was there (nothing) after the test
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    stale = tmp_path / "prometheus" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old samples")
    path = prometheus_dir(tmp_path)
    assert path == tmp_path / "prometheus" and not stale.exists()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(path)  # inherited by supervisord
