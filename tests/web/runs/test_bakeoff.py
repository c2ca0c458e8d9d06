"""Bake-offs start several detectors on one version; the leaderboard ranks the version's runs."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.runs.models import Run

from .test_results_fixtures import make_detector, make_run, make_version, results_env  # noqa: F401


def _url(name, tenant, version):
    kwargs = {"tenant_slug": tenant.slug, "pk": version.dataset_id, "number": version.number}
    return reverse(f"runs:{name}", kwargs=kwargs)


@pytest.fixture
def version(tenant_a):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    return make_version(tenant_a, {"x": rng.normal(size=300), "y": y})


def test_a_bake_off_starts_one_queued_run_per_configuration(
    bob_client, tenant_a, version, django_capture_on_commit_callbacks
):
    configs = [make_detector(tenant_a).config for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = bob_client.post(
            _url("bakeoff", tenant_a, version),
            {"configs": [c.pk for c in configs], "label_column": "y"},
        )

    assert response.status_code == 302
    assert response["Location"] == _url("leaderboard", tenant_a, version)
    runs = Run.objects.filter(dataset_version=version)
    assert sorted(r.detector_version.config_id for r in runs) == sorted(c.pk for c in configs)
    assert all(r.status == "queued" and r.label_column == "y" for r in runs)
    assert len(callbacks) == 3  # each enqueued after the commit
    event = AuditEvent.objects.get(action="run.bakeoff_started")
    assert sorted(event.details["runs"]) == sorted(r.pk for r in runs)


def test_a_bake_off_of_one_detector_is_refused_with_a_message_and_starts_nothing(
    bob_client, tenant_a, version
):
    config = make_detector(tenant_a).config

    response = bob_client.post(_url("bakeoff", tenant_a, version), {"configs": [config.pk]})

    assert response.status_code == 400
    assert "Choose 2 to 12 detector configurations." in response.content.decode()
    assert not Run.objects.filter(dataset_version=version).exists()


def test_the_bake_off_form_offers_the_workspaces_configurations_only(
    alice_client, tenant_a, tenant_b, version
):
    mine = make_detector(tenant_a).config
    theirs = make_detector(tenant_b).config

    html = alice_client.get(_url("bakeoff", tenant_a, version)).content.decode()

    assert f'value="{mine.pk}"' in html and f'value="{theirs.pk}"' not in html


def test_viewers_cannot_start_a_bake_off_and_strangers_get_404(
    vera_client, charlie_client, tenant_a, tenant_b, version
):
    assert vera_client.get(_url("bakeoff", tenant_a, version)).status_code == 403
    assert charlie_client.get(_url("leaderboard", tenant_b, version)).status_code == 404
    assert charlie_client.get(_url("bakeoff", tenant_b, version)).status_code == 404


def test_the_leaderboard_ranks_runs_by_roc_auc_and_tests_each_against_the_best(
    vera_client, tenant_a, version
):
    from apps.runs import selectors

    y = selectors.read_column(version.parquet, "y")
    rng = np.random.default_rng(1)
    weak = make_run(
        tenant_a, version, rng.normal(size=300) + 0.2 * y, threshold=1.5, label_column="y"
    )
    strong = make_run(
        tenant_a, version, rng.normal(size=300) + 3 * y, threshold=1.5, label_column="y"
    )
    make_run(tenant_a, version, np.zeros(300), threshold=1, status="running")

    response = vera_client.get(_url("leaderboard", tenant_a, version))

    assert response.status_code == 200
    html = response.content.decode()
    table = html[html.index('id="leaderboard"') :]
    assert table.index(f'data-run="{strong.pk}"') < table.index(f'data-run="{weak.pk}"')
    weak_row = table[table.index(f'data-run="{weak.pk}"') :].split("</tr>", 1)[0]
    assert "p &lt; 0.001" in weak_row and "[" in weak_row
    assert "Ranked by ROC-AUC against the label column “y”" in html
    assert 'id="leaderboard-pending"' in html


def test_without_labels_the_leaderboard_ranks_by_agreement_with_the_consensus(
    alice_client, tenant_a, version
):
    rng = np.random.default_rng(2)
    base = rng.normal(size=300)
    a = make_run(tenant_a, version, base, threshold=1.5)
    b = make_run(tenant_a, version, base + 0.1 * rng.normal(size=300), threshold=1.5)
    noise = make_run(tenant_a, version, rng.normal(size=300), threshold=1.5)

    html = alice_client.get(_url("leaderboard", tenant_a, version)).content.decode()

    assert "ranked by agreement (Spearman) with the consensus" in html
    table = html[html.index('id="leaderboard"') :]
    assert table.index(f'data-run="{noise.pk}"') > max(
        table.index(f'data-run="{a.pk}"'), table.index(f'data-run="{b.pk}"')
    )


def test_the_dataset_page_links_to_the_bake_off_and_the_leaderboard(
    alice_client, tenant_a, version
):
    url = reverse(
        "datasets:version",
        kwargs={"tenant_slug": tenant_a.slug, "pk": version.dataset_id, "number": version.number},
    )
    html = alice_client.get(url).content.decode()

    assert _url("bakeoff", tenant_a, version) in html
    assert _url("leaderboard", tenant_a, version) in html
