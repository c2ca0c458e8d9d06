"""Hostile files never take the web process down: refused cheaply, or failed in the sandbox.

Every case of ``corpus.CASES`` goes through the upload form; ingest-time cases then run
the ingest task in this process, whose parse happens in a limited child.  Each asserts
the status, the message, what is left behind, and that this process did not swell.  A
second test sends the worst files to a real ASGI server and watches its memory.

``pytest tests/web/datasets/test_hostile_corpus.py -s`` prints the per-case table.
"""

from __future__ import annotations

import html
import io
import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from apps.datasets.models import Dataset, DatasetVersion, Upload
from pynomaly import data as engine
from pynomaly.results import escape_cell

from .corpus import CASES, FAILED, REFUSED, Case, lying_parquet, xlsx
from .helpers import ingest_latest, stored_files, upload_url

MAX_GROWTH_MB = 300
TABLE: list[tuple] = []


class PeakRss:
    """Samples a process's RSS in a thread; ``peak`` and ``growth`` in MB."""

    def __init__(self, pid: int | None = None):
        self.proc = psutil.Process(pid or os.getpid())
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / (1 << 20)

    @property
    def peak_mb(self) -> float:
        return self.peak / (1 << 20)


@pytest.fixture(scope="module", autouse=True)
def table():
    yield
    if TABLE:
        print(
            f"\n{'case':<32} {'where':<8} {'status':>6} {'seconds':>8} {'peak RSS MB':>12} "
            f"{'growth MB':>10}"
        )
        for row in TABLE:
            print(
                f"{row[0]:<32} {row[1]:<8} {row[2]:>6} {row[3]:>8.2f} {row[4]:>12.0f} "
                f"{row[5]:>10.0f}"
            )


def _post(client, tenant, path: Path, filename: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(filename, path.read_bytes())
    return client.post(upload_url(tenant), {"name": "", "file": upload})


def _text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_hostile_file_is_refused_or_fails_visibly(
    case: Case,
    alice_client,
    tenant_a,
    tmp_path,
    media,
    settings,
    django_capture_on_commit_callbacks,
):
    for key, value in case.settings.items():
        setattr(settings, key, value)
    source = tmp_path / "source"
    case.make(source)
    started = time.monotonic()
    with PeakRss() as rss:
        response = _post(alice_client, tenant_a, source, case.filename)
        if case.outcome != REFUSED:
            with django_capture_on_commit_callbacks(execute=True):
                upload = ingest_latest()
    seconds = time.monotonic() - started
    TABLE.append((case.id, "client", response.status_code, seconds, rss.peak_mb, rss.growth_mb))

    assert response.status_code == case.status, _text(response)[:2000]
    assert rss.growth_mb < MAX_GROWTH_MB
    if case.outcome == REFUSED:
        assert case.message in _text(response)
        assert 'id="file-errors"' in _text(response)
        assert not Dataset.objects.exists() and not Upload.objects.exists()
        assert not DatasetVersion.objects.exists()
        assert stored_files(media) == []
        return
    dataset = Dataset.objects.get()
    if case.outcome == FAILED:
        assert upload.status == Upload.Status.FAILED
        assert dataset.status == Dataset.Status.FAILED
        assert case.message in dataset.error, dataset.error
        assert not DatasetVersion.objects.exists()
        assert stored_files(media) == []  # the upload's file went with the failure
        page = alice_client.get(f"/t/{tenant_a.slug}/datasets/{dataset.pk}/")
        assert case.message in _text(page)
        return
    assert upload.status == Upload.Status.DONE, upload.error
    _check_accepted(case, upload, media)


def _check_accepted(case: Case, upload: Upload, media: Path) -> None:
    version = upload.version
    stored = Path(upload.version.original.path).resolve()
    assert stored.is_relative_to(media.resolve())  # no name walks out of storage
    assert len(stored.name.encode()) <= 255 and "\x00" not in upload.original_name
    frame = engine.read_parquet(version.parquet.path)
    if case.id == "utf-8-bom":
        assert list(frame.columns) == ["a", "b"]  # no "\ufeffa"
    elif case.id == "formula-cells":
        # Kept as the text it is, and neutralised by the CSV export's cell escaping.
        cell = frame["name"][0]
        assert cell == "=cmd|' /C calc'!A0"
        assert escape_cell(cell) == "'=cmd|' /C calc'!A0"
        assert escape_cell(frame["name"][1]) == "'@SUM(A1)"
    elif case.id == "path-traversal":
        assert upload.original_name == "passwd.csv" and upload.dataset.name == "passwd"
    elif case.id == "windows-path":
        assert upload.original_name == "evil.csv"
    elif case.id == "300-char-name":
        assert len(upload.original_name) <= 255 and upload.original_name.endswith(".csv")
        assert stored.name.endswith(".csv") and len(stored.name.encode()) <= 130
    elif case.id == "control-chars-name":
        assert upload.original_name == "report.csv"
    elif case.id == "parquet-footer-within-limits":
        assert version.rows == 1000  # what the pages hold, not what the footer claims


# ------------------------------------------------------------------ a real server


def _login(server, email: str):
    import requests

    from tests.conftest import PASSWORD

    s = requests.Session()
    s.get(f"{server.url}/accounts/login/")
    r = s.post(
        f"{server.url}/accounts/login/",
        data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text[:500]
    return s


def _streamed_multipart(path: Path, filename: str, csrf: str):
    """A multipart body streamed from disk (a 200 MB file is never held in memory here)."""
    boundary = "pynomaly-hostile-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f'{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return _Body(head, path, tail), headers


class _Body:
    """File-like, with a length: requests sends it with Content-Length, in pieces."""

    def __init__(self, head: bytes, path: Path, tail: bytes):
        self.parts = [io.BytesIO(head), open(path, "rb"), io.BytesIO(tail)]  # noqa: SIM115
        self.length = len(head) + path.stat().st_size + len(tail)

    def __len__(self) -> int:
        return self.length

    def read(self, n: int = -1) -> bytes:
        while self.parts:
            chunk = self.parts[0].read(n if n and n > 0 else 1 << 20)
            if chunk:
                return chunk
            self.parts.pop(0).close()
        return b""


def _single_line(path: Path) -> None:
    """200 MB of CSV without a newline, written in pieces."""
    piece = b"1234567," * (1 << 17)  # 1 MiB
    with open(path, "wb") as fh:
        for _ in range(200):
            fh.write(piece)


SERVER_CASES = [
    (
        "parquet-lying-footer",
        "footer.parquet",
        lying_parquet(2 * 10**12),
        422,
        "2,000,000,000,000 rows",
    ),
    (
        "xlsx-zip-bomb",
        "bomb.xlsx",
        xlsx(2_000_000, dimension="A1:J2000000"),
        422,
        "refused as a likely zip bomb",
    ),
    ("200mb-single-line", "line.csv", _single_line, 422, "line 1 is longer than"),
    (
        "20000-columns",
        "wide.csv",
        lambda p: p.write_text(
            ",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join(["1"] * 20_000) + "\n"
        ),
        422,
        "file has 20,000 columns",
    ),
]


@pytest.mark.integration
def test_a_real_server_answers_hostile_uploads_quickly_and_stays_small(
    asgi_server, alice, tenant_a, tmp_path, media
):
    session = _login(asgi_server, alice.email)
    url = f"{asgi_server.url}{upload_url(tenant_a)}"
    for case_id, filename, make, status, message in SERVER_CASES:
        source = tmp_path / case_id
        make(source)
        session.get(url)
        body, headers = _streamed_multipart(source, filename, session.cookies["csrftoken"])
        started = time.monotonic()
        with PeakRss(asgi_server.proc.pid) as rss:
            response = session.post(url, data=body, headers=headers, timeout=120)
        seconds = time.monotonic() - started
        TABLE.append((case_id, "server", response.status_code, seconds, rss.peak_mb, rss.growth_mb))
        assert response.status_code == status, response.text[:1000]
        assert message in html.unescape(response.text)
        assert rss.growth_mb < MAX_GROWTH_MB, f"{case_id}: +{rss.growth_mb:.0f} MB"
        assert session.get(f"{asgi_server.url}/healthz", timeout=10).status_code == 200
        source.unlink()
    assert not Dataset.objects.exists() and not Upload.objects.exists()
    assert stored_files(media) == []
