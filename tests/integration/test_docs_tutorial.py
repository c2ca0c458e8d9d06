"""The getting-started tutorial runs as written: every shell block marked ``<!-- tested -->`` in
docs/getting-started.md is executed, in order and in one bash (as a reader types them into one
terminal), against a live server with a real Celery worker, with ``PYNOMALY_URL`` and
``PYNOMALY_TOKEN`` set as the tutorial tells the reader to, in an empty folder. The script must
exit 0 and each block's output must hold the lines the page annotates (``expect: …``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "getting-started.md"
TESTED = re.compile(r"<!-- tested(?P<meta>.*?)-->\s*```bash\n(?P<code>.*?)```", re.S)
MARK = "::tutorial-block::"


@dataclass(frozen=True)
class Block:
    number: int
    code: str
    expect: tuple[str, ...]


def marked_blocks(markdown: str) -> list[Block]:
    blocks = []
    for number, m in enumerate(TESTED.finditer(markdown), start=1):
        expect = tuple(
            line.split("expect:", 1)[1].strip()
            for line in m["meta"].splitlines()
            if line.strip().startswith("expect:")
        )
        blocks.append(Block(number, m["code"], expect))
    return blocks


def script_of(blocks: list[Block]) -> str:
    lines = ["set -euo pipefail"]
    for block in blocks:
        lines += [f"echo '{MARK}{block.number}'", block.code.rstrip()]
    lines.append(f"echo '{MARK}end'")
    return "\n".join(lines) + "\n"


def outputs_by_block(stdout: str) -> dict[str, str]:
    parts: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith(MARK):
            current = line[len(MARK) :]
            parts[current] = []
        elif current is not None:
            parts[current].append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def test_the_tutorial_marks_its_cli_and_api_blocks_for_testing():
    blocks = marked_blocks(TUTORIAL.read_text())
    codes = "\n".join(b.code for b in blocks)
    assert len(blocks) >= 9
    assert all(b.expect for b in blocks), "every tested block says what its output shows"
    for step in ("pynomaly whoami", "pynomaly datasets upload", "pynomaly runs start",
                 "pynomaly runs results", "/api/v1/datasets", "/api/v1/runs"):  # fmt: skip
        assert step in codes, step
    # The parser sees what a reader sees: a marker swallowed by a malformed comment would hide
    # a block from this test.
    assert TUTORIAL.read_text().count("<!-- tested") == len(blocks)


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.mark.timeout(1200)  # an automatic selection and an IForest run on a loaded machine
def test_the_getting_started_tutorial_runs_as_written(
    live_media, asgi_server, celery_worker, alice, tenant_a, tmp_path
):
    from apps.api.services import token_create

    _token, raw = token_create(user=alice, tenant=tenant_a, name="tutorial", scope="write")
    blocks = marked_blocks(TUTORIAL.read_text())
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        # `source .venv/bin/activate` in the tutorial: python and pynomaly from the venv
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path / "home"),
        "PYNOMALY_CONFIG": str(tmp_path / "home" / "no-login.json"),
        "PYNOMALY_URL": asgi_server.url,
        "PYNOMALY_TOKEN": raw,
    }
    done = subprocess.run(
        ["bash", "-c", script_of(blocks)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print(done.stdout)  # shown by pytest when the test fails, or with -s
    outputs = outputs_by_block(done.stdout)
    reached = [k for k in outputs if k != "end"]
    failed_at = reached[-1] if reached else "1"
    assert done.returncode == 0 and "end" in outputs, (
        f"tutorial block {failed_at} failed (exit {done.returncode}):\n"
        f"{blocks[int(failed_at) - 1].code}\nstdout:\n{outputs.get(failed_at, '')[-3000:]}"
        f"\nstderr:\n{done.stderr[-3000:]}"
    )
    for block in blocks:
        shown = outputs[str(block.number)]
        for line in block.expect:
            assert line in shown, f"block {block.number} did not print {line!r}:\n{shown[-3000:]}"
