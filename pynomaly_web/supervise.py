"""Run Procfile processes under supervisord: ``python -m pynomaly_web.supervise web worker beat``.

honcho stops every process when one dies (the embedded Redis and all queued work with it);
supervisord (the ``supervisor`` package) starts a crashed process again and stops them all
on Ctrl-C or SIGTERM. Its configuration is generated from the Procfile into
``var/supervisord.conf``, so the Procfile stays the one list of processes; while it runs,
``supervisorctl -c var/supervisord.conf status`` shows them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


def procfile(path: Path) -> dict[str, str]:
    """``name: command`` lines, in file order (comments and blank lines skipped)."""
    processes = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        processes[name.strip()] = command.strip()
    return processes


def config(processes: dict[str, str], *, var: Path = VAR) -> str:
    """supervisord.conf text: each process restarted when it exits, output to our stdout."""
    sections = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={var / 'supervisord.log'}",
        f"pidfile={var / 'supervisord.pid'}",
        "",
        "[unix_http_server]",
        f"file={var / 'supervisor.sock'}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{var / 'supervisor.sock'}",
    ]
    for name, command in processes.items():
        # Through bash, as in the Procfile (${WORKER_CONCURRENCY:-2} and such); exec so the
        # signal reaches the process itself. % is supervisor's interpolation character.
        wrapped = "bash -c " + shlex.quote("exec " + command)
        sections += [
            "",
            f"[program:{name}]",
            f"command={wrapped.replace('%', '%%')}",
            f"directory={ROOT}",
            "autorestart=true",
            "startsecs=2",
            "startretries=20",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=30",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
        ]
    return "\n".join(sections) + "\n"


def prometheus_dir(var: Path) -> Path:
    """The processes' shared metrics directory (prometheus-client's multiprocess mode), emptied
    at start: ``PROMETHEUS_MULTIPROC_DIR`` when set, else ``var/prometheus``."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or var / "prometheus")
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pynomaly_web.supervise", description=__doc__)
    parser.add_argument("names", nargs="*", help="Procfile processes to run (default: all)")
    parser.add_argument("--procfile", type=Path, default=ROOT / "Procfile")
    parser.add_argument("--var", type=Path, default=VAR, help="where the config, log and socket go")
    args = parser.parse_args(argv)
    processes = procfile(args.procfile)
    names = args.names or [n for n in processes if n != "release"]
    unknown = [n for n in names if n not in processes]
    if unknown:
        parser.error(f"not in {args.procfile.name}: {', '.join(unknown)}")
    args.var.mkdir(parents=True, exist_ok=True)
    prometheus_dir(args.var)
    conf = args.var / "supervisord.conf"
    conf.write_text(config({n: processes[n] for n in names}, var=args.var))
    supervisord = Path(sys.executable).with_name("supervisord")
    os.execv(supervisord, [str(supervisord), "-c", str(conf)])


if __name__ == "__main__":
    main()
