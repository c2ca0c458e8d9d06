"""Run pages: start (with cost guard), list, detail, cancel, re-run; roles and strangers."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.runs.models import Run

from .factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")


def _url(tenant, name, **kw):
    return reverse(f"runs:{name}", kwargs={"tenant_slug": tenant.slug, **kw})


@pytest.fixture
def sent(monkeypatch):
    """Task messages sent to the broker (captured instead)."""
    from apps.runs import tasks

    messages = []
    monkeypatch.setattr(
        tasks.execute_run, "apply_async", lambda args, task_id: messages.append((args, task_id))
    )
    return messages


@pytest.fixture
def inputs(alice, tenant_a):
    return make_version(tenant_a, blobs(200)), make_config(tenant_a, alice)


def _events(action, run):
    return AuditEvent.objects.filter(
        action=action, target_type="runs.run", target_id=str(run.pk)
    ).count()


def test_starting_a_run_writes_a_queued_row_and_enqueues_only_after_commit(
    bob_client, bob, tenant_a, inputs, sent, django_capture_on_commit_callbacks
):
    version, config = inputs
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = bob_client.post(
            _url(tenant_a, "start"),
            {
                "dataset_version": version.pk,
                "detector": config.pk,
                "label_column": "is_anomaly",
                "max_fit_rows": "150",
            },
        )
        assert sent == []  # nothing reaches the broker inside the transaction
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == _url(
        tenant_a, "detail", run_id=run.pk
    )
    assert (run.status, run.created_by, run.label_column, run.max_fit_rows) == (
        "queued",
        bob,
        "is_anomaly",
        150,
    )
    assert run.detector_version == config.current
    assert _events("run.started", run) == 1
    for callback in callbacks:
        callback()
    assert sent == [([run.pk], run.task_id)]


def test_only_ready_datasets_can_be_chosen(alice_client, tenant_a, inputs):
    version, config = inputs
    version.dataset.status = "ingesting"
    version.dataset.save()
    response = alice_client.post(
        _url(tenant_a, "start"), {"dataset_version": version.pk, "detector": config.pk}
    )
    assert response.status_code == 400
    assert "dataset_version" in response.context["form"].errors
    assert not Run.objects.exists()


def test_the_label_column_is_chosen_from_the_versions_columns(alice_client, tenant_a, inputs):
    version, config = inputs
    page = alice_client.get(
        _url(tenant_a, "start"), {"dataset_version": version.pk, "detector": config.pk}
    )
    assert '<option value="is_anomaly">' in page.content.decode()
    response = alice_client.post(
        _url(tenant_a, "start"),
        {"dataset_version": version.pk, "detector": config.pk, "label_column": "nope"},
    )
    assert "label_column" in response.context["form"].errors


def test_the_start_page_warns_before_a_knn_run_on_200k_rows_and_needs_consent(
    alice, alice_client, tenant_a, sent
):
    version = make_version(tenant_a, blobs(50), rows=200_000)
    knn = make_config(tenant_a, alice, name="knn", detectors=(("knn", {}),))
    page = alice_client.get(
        _url(tenant_a, "start"), {"dataset_version": version.pk, "detector": knn.pk}
    )
    html = page.content.decode()
    assert 'id="cost-guard"' in html and "KNN is quadratic" in html
    assert "max_fit_rows=" in html and "?algorithm=iforest" in html
    refused = alice_client.post(
        _url(tenant_a, "start"), {"dataset_version": version.pk, "detector": knn.pk}
    )
    assert refused.status_code == 400
    assert "accept_cost" in refused.context["form"].errors and not Run.objects.exists()
    alice_client.post(
        _url(tenant_a, "start"),
        {"dataset_version": version.pk, "detector": knn.pk, "accept_cost": "on"},
    )
    assert Run.objects.count() == 1


def test_the_start_page_shows_no_warning_for_iforest(alice, alice_client, tenant_a):
    version = make_version(tenant_a, blobs(50), rows=200_000)
    forest = make_config(tenant_a, alice)
    html = alice_client.get(
        _url(tenant_a, "start"), {"dataset_version": version.pk, "detector": forest.pk}
    ).content.decode()
    assert 'id="cost-time"' in html and "cost-warning" not in html


def test_the_preflight_partial_answers_htmx(alice_client, tenant_a, inputs):
    version, config = inputs
    response = alice_client.get(
        _url(tenant_a, "start"),
        {"dataset_version": version.pk, "detector": config.pk},
        headers={"HX-Request": "true"},
    )
    assert response.content.decode().lstrip().startswith('<div id="run-preflight"')


def test_cancelling_a_queued_run_cancels_it_at_once(alice, alice_client, tenant_a, inputs):
    run = make_run(tenant_a, alice, *inputs)
    response = alice_client.post(_url(tenant_a, "cancel", run_id=run.pk))
    run.refresh_from_db()
    assert response.status_code == 302
    assert run.status == Run.Status.CANCELLED and run.finished_at is not None
    assert _events("run.cancelled", run) == 1


def test_cancelling_a_running_run_only_asks_it_to_stop(alice, alice_client, tenant_a, inputs):
    run = make_run(tenant_a, alice, *inputs, status=Run.Status.RUNNING)
    alice_client.post(_url(tenant_a, "cancel", run_id=run.pk))
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.cancel_requested
    assert _events("run.cancel_requested", run) == 1


def test_cancelling_a_finished_run_changes_nothing(alice, alice_client, tenant_a, inputs):
    run = make_run(tenant_a, alice, *inputs, status=Run.Status.SUCCEEDED)
    alice_client.post(_url(tenant_a, "cancel", run_id=run.pk))
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED and not run.cancel_requested


def test_rerun_starts_a_new_run_with_the_same_inputs(
    alice, bob_client, tenant_a, inputs, sent, django_capture_on_commit_callbacks
):
    run = make_run(
        tenant_a,
        alice,
        *inputs,
        status=Run.Status.FAILED,
        label_column="is_anomaly",
        max_fit_rows=99,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = bob_client.post(_url(tenant_a, "rerun", run_id=run.pk))
    new = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == _url(tenant_a, "detail", run_id=new.pk)
    assert (
        new.dataset_version,
        new.detector_version,
        new.label_column,
        new.max_fit_rows,
        new.status,
    ) == (run.dataset_version, run.detector_version, "is_anomaly", 99, "queued")
    assert sent == [([new.pk], new.task_id)]
    assert _events("run.started", new) == 1


def test_the_detail_page_shows_inputs_progress_and_a_socket(alice, vera_client, tenant_a, inputs):
    run = make_run(
        tenant_a, alice, *inputs, status=Run.Status.RUNNING, stage="scoring", percent=62.0
    )
    html = vera_client.get(_url(tenant_a, "detail", run_id=run.pk)).content.decode()
    assert f'ws-connect="/ws/t/{tenant_a.slug}/runs/{run.pk}/"' in html
    assert 'id="run-progress"' in html and "62%" in html and "Scoring" in html
    assert "hx-swap-oob" not in html
    assert "Cancel run" not in html  # a viewer gets no buttons


def test_a_succeeded_run_links_to_its_results(alice, alice_client, tenant_a, inputs):
    run = make_run(
        tenant_a,
        alice,
        *inputs,
        status=Run.Status.SUCCEEDED,
        summary={"rows": 200, "anomalies": 9},
        threshold=0.5,
    )
    html = alice_client.get(_url(tenant_a, "detail", run_id=run.pk)).content.decode()
    assert "ws-connect" not in html
    assert f'href="{_url(tenant_a, "results", run_id=run.pk)}"' in html


def test_a_failed_run_shows_its_error(alice, alice_client, tenant_a, inputs):
    run = make_run(
        tenant_a, alice, *inputs, status=Run.Status.FAILED, error="CBLOF failed: no clusters"
    )
    assert (
        "CBLOF failed: no clusters"
        in alice_client.get(_url(tenant_a, "detail", run_id=run.pk)).content.decode()
    )


def test_the_list_filters_by_status_dataset_and_detector_newest_first(
    alice, alice_client, tenant_a, inputs
):
    version, config = inputs
    other_config = make_config(tenant_a, alice, name="other", detectors=(("ecod", {}),))
    first = make_run(tenant_a, alice, version, config, status="failed")
    second = make_run(tenant_a, alice, version, other_config, status="succeeded")
    html = alice_client.get(_url(tenant_a, "list")).content.decode()
    assert html.index(f'data-run="{second.pk}"') < html.index(f'data-run="{first.pk}"')
    html = alice_client.get(_url(tenant_a, "list"), {"status": "failed"}).content.decode()
    assert f'data-run="{first.pk}"' in html and f'data-run="{second.pk}"' not in html
    html = alice_client.get(
        _url(tenant_a, "list"), {"detector": other_config.pk}, headers={"HX-Request": "true"}
    ).content.decode()
    assert html.lstrip().startswith('<div id="run-list"')
    assert f'data-run="{second.pk}"' in html and f'data-run="{first.pk}"' not in html
    other_version = make_version(tenant_a, blobs(20))
    html = alice_client.get(
        _url(tenant_a, "list"), {"dataset": other_version.dataset.pk}
    ).content.decode()
    assert "data-run=" not in html


def test_the_list_is_paginated(alice, alice_client, tenant_a, inputs):
    for _ in range(27):
        make_run(tenant_a, alice, *inputs)
    first = alice_client.get(_url(tenant_a, "list")).content.decode()
    second = alice_client.get(_url(tenant_a, "list"), {"page": 2}).content.decode()
    assert first.count("data-run=") == 25 and second.count("data-run=") == 2


def test_a_viewer_gets_403_on_start_cancel_and_rerun(alice, vera_client, tenant_a, inputs, sent):
    version, config = inputs
    run = make_run(tenant_a, alice, version, config)
    assert vera_client.get(_url(tenant_a, "start")).status_code == 403
    assert (
        vera_client.post(
            _url(tenant_a, "start"), {"dataset_version": version.pk, "detector": config.pk}
        ).status_code
        == 403
    )
    assert vera_client.post(_url(tenant_a, "cancel", run_id=run.pk)).status_code == 403
    assert vera_client.post(_url(tenant_a, "rerun", run_id=run.pk)).status_code == 403
    run.refresh_from_db()
    assert run.status == "queued" and Run.objects.count() == 1 and sent == []


def test_a_stranger_gets_404_on_every_run_url_of_tenant_a(
    alice, charlie_client, tenant_a, tenant_b, inputs
):
    run = make_run(tenant_a, alice, *inputs)
    for name, kw in [("list", {}), ("start", {}), ("detail", {"run_id": run.pk})]:
        assert charlie_client.get(_url(tenant_a, name, **kw)).status_code == 404, name
    for name in ("cancel", "rerun"):
        assert charlie_client.post(_url(tenant_a, name, run_id=run.pk)).status_code == 404, name
    # ...and under his own workspace's slug, A's run does not exist either.
    for name in ("detail",):
        assert charlie_client.get(_url(tenant_b, name, run_id=run.pk)).status_code == 404
    for name in ("cancel", "rerun"):
        assert charlie_client.post(_url(tenant_b, name, run_id=run.pk)).status_code == 404
    run.refresh_from_db()
    assert run.status == "queued" and Run.objects.count() == 1


def test_a_stranger_cannot_start_a_run_on_tenant_bs_slug_with_a_s_inputs(
    charlie_client, tenant_b, inputs
):
    version, config = inputs
    response = charlie_client.post(
        _url(tenant_b, "start"), {"dataset_version": version.pk, "detector": config.pk}
    )
    assert set(response.context["form"].errors) >= {"dataset_version", "detector"}
    assert not Run.objects.exists()
