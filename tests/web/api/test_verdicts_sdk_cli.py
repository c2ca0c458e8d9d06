"""The SDK's ``client.verdicts`` and the CLI's ``verdicts`` / ``retrain`` against the real API,
in process: a requests adapter hands each request to Django's test client."""

from __future__ import annotations

import json

import pytest
import requests
from django.test import Client as DjangoClient

from apps.feedback.models import Verdict
from apps.runs.models import Run
from pynomaly import cli, config
from pynomaly.client import Client
from tests.web.runs.test_results_fixtures import small_run

from .conftest import make_token

pytestmark = pytest.mark.django_db
URL = "http://testserver"


class DjangoAdapter(requests.adapters.BaseAdapter):
    """Answers requests from the Django app itself, without a network or a server."""

    def __init__(self):
        super().__init__()
        self.django = DjangoClient()

    def send(self, request, **kwargs):
        path = request.path_url
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("content-length", "host", "accept-encoding")
        }
        content_type = headers.pop("Content-Type", "application/octet-stream")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        answer = self.django.generic(
            request.method, path, body, content_type=content_type, headers=headers
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers.update({k: v for k, v in answer.items()})
        response._content = (
            b"".join(answer.streaming_content) if answer.streaming else answer.content
        )
        response.url, response.request = request.url, request
        return response

    def close(self):
        pass


@pytest.fixture
def in_process(monkeypatch):
    adapter = DjangoAdapter()
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: adapter)
    return adapter


@pytest.fixture
def bob_sdk(in_process, bob, tenant_a):
    return Client(URL, make_token(bob, tenant_a)[1])


@pytest.fixture
def bob_cli(in_process, bob, tenant_a, tmp_path, monkeypatch):
    monkeypatch.setenv("PYNOMALY_CONFIG", str(tmp_path / "cfg" / "config.json"))
    config.save_login(URL, make_token(bob, tenant_a)[1])


def test_the_sdk_marks_lists_exports_and_clears_verdicts(bob_sdk, tenant_a):
    run = small_run(tenant_a)
    v = bob_sdk.verdicts.add(95, "anomaly", run_id=run.pk, note="spike")
    assert (v.row, v.verdict, v.applied) == (95, "anomaly", True)
    again = bob_sdk.verdicts.add(95, "normal", run_id=run.pk, uuid=v.uuid)
    assert again.duplicate and again.verdict == "anomaly"
    bob_sdk.verdicts.add(3, "normal", dataset_version_id=run.dataset_version_id)
    assert sorted(x.row for x in bob_sdk.verdicts.list(run_id=run.pk)) == [3, 95]
    assert [x.row for x in bob_sdk.verdicts.list(run_id=run.pk, verdict="anomaly")] == [95]
    assert [e["label"] for e in bob_sdk.verdicts.export(run.pk)] == [0, 1]
    bob_sdk.verdicts.delete(3, run_id=run.pk)
    assert [x.row for x in bob_sdk.verdicts.list(dataset_version_id=run.dataset_version_id)] == [95]


def test_the_sdk_raises_the_servers_reason(bob_sdk, tenant_a):
    from pynomaly.client import NotFound, ValidationError

    run = small_run(tenant_a)
    with pytest.raises(ValidationError, match="rows 0 to 99"):
        bob_sdk.verdicts.add(500, "anomaly", run_id=run.pk)
    with pytest.raises(NotFound):
        bob_sdk.verdicts.delete(1, run_id=run.pk)
    with pytest.raises(ValueError):
        bob_sdk.verdicts.add(1, "maybe", run_id=run.pk)


def test_the_sdk_retrains_and_learns_the_threshold(
    bob_sdk, tenant_a, django_capture_on_commit_callbacks
):
    run = small_run(tenant_a)
    for row in range(0, 100, 5):
        bob_sdk.verdicts.add(row, "anomaly" if row >= 85 else "normal", run_id=run.pk)
    t = bob_sdk.verdicts.learn_threshold(run.pk)
    assert t["f1"] == 1.0 and 0.80 < t["threshold"] < 0.85
    assert bob_sdk.verdicts.summary(run.pk)["metrics"]["f1"] == 1.0
    with django_capture_on_commit_callbacks(execute=False):
        child = bob_sdk.verdicts.retrain(run.pk)
    assert child.status == "queued" and Run.objects.get(pk=child.id).parent_id == run.pk


def test_the_cli_adds_lists_exports_deletes_and_retrains(
    bob_cli, tenant_a, capsys, tmp_path, django_capture_on_commit_callbacks
):
    run = small_run(tenant_a)
    assert (
        cli.main(["verdicts", "add", str(run.pk), "95", "anomaly", "--note", "card testing"]) == 0
    )
    assert "row 95: anomaly" in capsys.readouterr().out
    assert cli.main(["verdicts", "add", str(run.pk), "10", "normal"]) == 0
    capsys.readouterr()
    assert cli.main(["verdicts", "list", str(run.pk)]) == 0
    out = capsys.readouterr().out
    assert "card testing" in out and "2 verdicts" in out
    assert cli.main(["verdicts", "export", str(run.pk), "-o", str(tmp_path / "v.csv")]) == 0
    assert (tmp_path / "v.csv").read_text().splitlines()[0].startswith("row,verdict,label,held_out")
    assert cli.main(["verdicts", "export", str(run.pk)]) == 0
    assert [e["row"] for e in json.loads(capsys.readouterr().out)] == [10, 95]
    assert cli.main(["verdicts", "summary", str(run.pk)]) == 0
    assert "1 anomaly, 1 normal" in capsys.readouterr().out
    assert cli.main(["verdicts", "delete", str(run.pk), "10"]) == 0
    assert Verdict.objects.count() == 1
    for row in range(80, 90):  # enough that some fall outside the held-out part (by hash)
        assert cli.main(["verdicts", "add", str(run.pk), str(row), "anomaly"]) == 0
    capsys.readouterr()
    with django_capture_on_commit_callbacks(execute=False):
        code = cli.main(["retrain", str(run.pk)])
    assert code == 0 and "retrains run" in capsys.readouterr().out
    assert Run.objects.filter(parent=run, use_verdicts=True).count() == 1


def test_the_cli_exits_2_with_the_reason_on_a_refused_verdict(bob_cli, tenant_a, capsys):
    run = small_run(tenant_a)
    assert cli.main(["verdicts", "add", str(run.pk), "1000", "anomaly"]) == 2
    assert "rows 0 to 99" in capsys.readouterr().err
    assert cli.main(["verdicts", "delete", str(run.pk), "5"]) == 2
