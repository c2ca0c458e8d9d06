"""The workspace overview: per-role defaults, a layout saved per user and workspace and
validated on the server, widgets scoped to the workspace, the guided first run."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.dashboard.models import DashboardLayout
from apps.dashboard.widgets import DEFAULTS, LayoutError, clean_widgets
from apps.runs.models import Run
from tests.web.runs.factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.django_db


def _home(client, tenant):
    return client.get(reverse("tenants:dashboard", args=[tenant.slug]))


def _url(name, tenant, **kw):
    return reverse(f"dashboard:{name}", kwargs={"tenant_slug": tenant.slug, **kw})


def _widgets(html: str) -> list[str]:
    import re

    return re.findall(r'data-widget="([^"]+)"', html)


@pytest.fixture
def finished(tenant_a, alice, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    version = make_version(tenant_a, blobs(200))
    run = make_run(
        tenant_a, alice, version, make_config(tenant_a, alice),
        status=Run.Status.SUCCEEDED, finished_at=timezone.now(),
        summary={"anomalies": 7, "rows": 200},
    )  # fmt: skip
    return run


def test_an_empty_workspace_gets_the_guided_first_run_instead_of_widgets(alice_client, tenant_a):
    html = _home(alice_client, tenant_a).content.decode()
    assert 'id="first-run"' in html and 'id="use-demo-data"' in html
    assert 'data-step="data" data-state="next"' in html
    assert _widgets(html) == []


def test_a_viewer_of_an_empty_workspace_is_told_whom_to_ask(vera_client, tenant_a):
    html = _home(vera_client, tenant_a).content.decode()
    assert "ask an analyst" in html and 'id="use-demo-data"' not in html


def test_each_role_starts_from_its_own_default(
    finished, alice_client, bob_client, vera_client, tenant_a
):
    def expected(role):
        return [w["type"] for w in DEFAULTS[role]]

    assert _widgets(_home(alice_client, tenant_a).content.decode()) == expected("owner")
    assert _widgets(_home(bob_client, tenant_a).content.decode()) == expected("analyst")
    assert _widgets(_home(vera_client, tenant_a).content.decode()) == expected("viewer")
    assert expected("owner") != expected("analyst") != expected("viewer")


def test_the_overview_shows_recent_runs_with_their_anomalies_and_the_chart(
    finished, alice_client, tenant_a
):
    html = _home(alice_client, tenant_a).content.decode()
    assert f'data-run="{finished.pk}"' in html and "7 anomalies" in html
    assert "vendor/plotly/plotly.min.js" in html  # the anomalies-over-time chart has data
    figure = json.loads(
        html.split('id="chart-2-figure" type="application/json">')[1].split("</script>")[0]
    )
    runs = next(t for t in figure["data"] if t["name"] == "runs")
    assert sum(runs["y"]) == 7


def test_add_move_remove_is_saved_per_user_and_workspace(
    finished, alice_client, bob_client, alice, tenant_a
):
    alice_client.post(_url("layout_reset", tenant_a))
    r = alice_client.post(
        _url("widget_add", tenant_a),
        {"type": "run_chart", "run_chart_id": finished.pk},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200
    last = len(DEFAULTS["owner"])
    assert _widgets(r.content.decode())[-1] == f"run_chart:{finished.pk}"
    assert f'data-focus="widget-{last}"' in r.content.decode()
    r = alice_client.post(
        _url("widget_move", tenant_a, index=last), {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert _widgets(r.content.decode())[last - 1] == f"run_chart:{finished.pk}"
    assert f'data-focus="move-up-{last - 1}"' in r.content.decode()
    alice_client.post(_url("widget_remove", tenant_a, index=0))
    saved = DashboardLayout.objects.get(user=alice, tenant=tenant_a).widgets
    assert saved[0] == DEFAULTS["owner"][1] and {"type": "run_chart", "id": finished.pk} in saved
    # bob's overview is his own
    assert _widgets(_home(bob_client, tenant_a).content.decode()) == [
        w["type"] for w in DEFAULTS["analyst"]
    ]


def test_moving_past_the_top_or_an_unknown_widget_is_a_400(finished, alice_client, tenant_a):
    r = alice_client.post(
        _url("widget_move", tenant_a, index=0), {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 400 and b"already at the top" in r.content
    r = alice_client.post(_url("widget_add", tenant_a), {"type": "weather"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and b"Unknown widget" in r.content
    r = alice_client.post(
        _url("widget_add", tenant_a), {"type": "run_chart"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 400 and b"Choose which one" in r.content
    r = alice_client.post(_url("widget_add", tenant_a), {"type": "counts"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and b"already on your overview" in r.content  # owners have it
    r = alice_client.post(_url("widget_remove", tenant_a, index=99), HTTP_HX_REQUEST="true")
    assert r.status_code == 400


def test_a_widget_naming_another_workspaces_run_is_refused_404(
    finished, charlie_client, tenant_b, tenant_a
):
    r = charlie_client.post(
        _url("widget_add", tenant_b), {"type": "run_chart", "run_chart_id": finished.pk}
    )
    assert r.status_code == 404
    r = charlie_client.post(
        _url("layout", tenant_b), json.dumps({"widgets": [{"type": "run_chart", "id": finished.pk}]}),
        content_type="application/json",
    )  # fmt: skip
    assert r.status_code == 404
    assert not DashboardLayout.objects.filter(tenant=tenant_b).exists()


def test_the_json_layout_is_validated(finished, alice_client, alice, tenant_a):
    url = _url("layout", tenant_a)
    for body in (
        "nope",
        json.dumps([1]),
        json.dumps({"widgets": "x"}),
        json.dumps({"widgets": [{"type": "counts", "id": 3}]}),
    ):
        assert alice_client.post(url, body, content_type="application/json").status_code == 400
    ok = alice_client.post(
        url, json.dumps({"widgets": [{"type": "counts"}]}), content_type="application/json"
    )
    assert ok.status_code == 302
    assert DashboardLayout.objects.get(user=alice, tenant=tenant_a).widgets == [{"type": "counts"}]
    with pytest.raises(LayoutError):
        clean_widgets(tenant_a, [{"type": "counts"}] * 21)


def test_a_deleted_run_drops_out_of_the_saved_layout(finished, alice_client, alice, tenant_a):
    DashboardLayout.objects.create(
        user=alice,
        tenant=tenant_a,
        widgets=[{"type": "run_chart", "id": finished.pk}, {"type": "counts"}],
    )
    finished.delete()
    assert _widgets(_home(alice_client, tenant_a).content.decode()) == ["counts"]


def test_the_demo_button_generates_the_labelled_demo_data_here(
    alice_client, tenant_a, settings, tmp_path, vera_client
):
    settings.MEDIA_ROOT = str(tmp_path)
    assert vera_client.post(_url("demo_data", tenant_a)).status_code == 403
    r = alice_client.post(_url("demo_data", tenant_a), follow=True)
    html = r.content.decode()
    assert 'data-step="data" data-state="done"' in html
    assert "detector=auto" in html and "label_column=is_fraud" in html


def test_a_stream_widget_subscribes_to_its_streams_socket_with_plotly_loaded(
    alice_client, alice, tenant_a
):
    from tests.web.streams.support import make_stream, store_history

    stream = make_stream(tenant_a, alice, threshold=0.6)
    store_history(stream, seconds=3, anomalies=1)
    DashboardLayout.objects.create(
        user=alice, tenant=tenant_a, widgets=[{"type": "stream_live", "id": stream.pk}]
    )
    html = _home(alice_client, tenant_a).content.decode()
    assert f'data-stream-live="/ws/t/{tenant_a.slug}/streams/{stream.pk}/"' in html
    assert 'data-stat="lag">7<' in html and "threshold (0.6000)" in html
    assert "vendor/plotly/plotly.min.js" in html and "js/stream_live.js" in html
    assert "data-plotly=" not in html  # drawn from the socket, not from an inlined figure


def test_a_widget_naming_another_workspaces_stream_is_refused_404(
    alice, tenant_a, charlie_client, tenant_b
):
    from tests.web.streams.support import make_stream

    stream = make_stream(tenant_a, alice)
    r = charlie_client.post(
        _url("widget_add", tenant_b), {"type": "stream_live", "stream_live_id": stream.pk}
    )
    assert r.status_code == 404
    assert not DashboardLayout.objects.filter(tenant=tenant_b).exists()
