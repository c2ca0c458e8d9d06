"""Run Procfile processes under supervisord: ``python -m pynomaly_web.supervise web worker beat``.

honcho stops every process when one dies (the embedded Redis and all queued work with it);
supervisord (the ``supervisor`` package) starts a crashed process again and stops them all
on Ctrl-C or SIGTERM. Its configuration is generated from the Procfile into
``var/supervisord.conf``, so the Procfile stays the one list of processes; while it runs,
``supervisorctl -c var/supervisord.conf status`` shows them.

``--scale NAME=N`` runs N copies of a process (supervisord's ``numprocs``; named ``NAME-0`` …):
``make run STREAMS_PROCESSES=2`` runs two stream processors, which share every stream through
its broker's consumer group (on two cores they carried 1.25-1.35x one's records/s).
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


def config(
    processes: dict[str, str], *, var: Path = VAR, scale: dict[str, int] | None = None
) -> str:
    """supervisord.conf text: each process restarted when it exits, output to our stdout;
    ``scale[name]`` copies of a process (default one)."""
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
        copies = (scale or {}).get(name, 1)
        sections += [
            "",
            f"[program:{name}]",
            f"command={wrapped.replace('%', '%%')}",
            *(
                [f"numprocs={copies}", "process_name=%(program_name)s-%(process_num)d"]
                if copies > 1
                else []
            ),
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
    parser.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="NAME=N",
        help="run N copies of process NAME (repeatable)",
    )
    args = parser.parse_args(argv)
    scale: dict[str, int] = {}
    for item in args.scale:
        name, _, count = item.partition("=")
        if not count.isdigit() or int(count) < 1:
            parser.error(f"--scale {item}: expected NAME=N with N ≥ 1")
        scale[name.strip()] = int(count)
    processes = procfile(args.procfile)
    names = args.names or [n for n in processes if n != "release"]
    unknown = [n for n in names + list(scale) if n not in processes]
    if unknown:
        parser.error(f"not in {args.procfile.name}: {', '.join(unknown)}")
    args.var.mkdir(parents=True, exist_ok=True)
    prometheus_dir(args.var)
    conf = args.var / "supervisord.conf"
    conf.write_text(config({n: processes[n] for n in names}, var=args.var, scale=scale))
    supervisord = Path(sys.executable).with_name("supervisord")
    os.execv(supervisord, [str(supervisord), "-c", str(conf)])


if __name__ == "__main__":
    main()
