"""Catalogue and detector configurations over the API: versions on change, field paths on bad params."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.detectors.models import DetectorConfig
from tests.web.runs.factories import blobs, make_config, make_run, make_version

from .conftest import assert_problem

PIPELINE = {
    "detectors": [{"key": "iforest", "params": {"n_estimators": 50}}],
    "threshold": {"kind": "contamination", "value": 0.05},
    "seed": 7,
}


def test_the_catalogue_lists_detectors_and_filters_them(alice_api):
    everything = alice_api.get("/detectors").json()["items"]
    assert {"iforest", "ecod"} <= {d["key"] for d in everything}
    assert all(d["available"] for d in alice_api.get("/detectors?available=true").json()["items"])
    assert all(
        not d["available"] for d in alice_api.get("/detectors?available=false").json()["items"]
    )
    proximity = alice_api.get("/detectors", {"family": everything[0]["family"]}).json()["items"]
    assert proximity and {d["family"] for d in proximity} == {everything[0]["family"]}
    found = [d["key"] for d in alice_api.get("/detectors?q=isolation").json()["items"]]
    assert "iforest" in found and "knn" not in found


def test_one_detector_reads_with_its_params_and_an_unknown_one_is_404(alice_api):
    spec = alice_api.get("/detectors/iforest").json()
    assert spec["key"] == "iforest" and any(p["name"] == "n_estimators" for p in spec["params"])
    assert_problem(alice_api.get("/detectors/nope"), 404)


def test_a_configuration_is_created_with_version_1(alice_api, tenant_a):
    r = alice_api.post(
        "/detector-configs", json={"name": "Forest", "description": "d", "pipeline": PIPELINE}
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["name"], body["version"], [v["number"] for v in body["versions"]]) == (
        "Forest",
        1,
        [1],
    )
    assert body["pipeline"]["detectors"][0]["params"]["n_estimators"] == 50
    assert body["pipeline"]["seed"] == 7 and body["pipeline"]["threshold"] == {
        "kind": "contamination",
        "value": 0.05,
    }
    assert DetectorConfig.objects.get(pk=body["id"]).tenant == tenant_a
    assert AuditEvent.objects.filter(action="detector.created").exists()


def test_a_bad_param_is_a_422_with_its_full_path(alice_api):
    pipeline = {
        "detectors": [
            {"key": "iforest", "params": {}},
            {"key": "knn", "params": {"n_neighbors": -3}},
        ]
    }
    body = assert_problem(
        alice_api.post("/detector-configs", json={"name": "x", "pipeline": pipeline}), 422
    )
    assert body["errors"][0]["loc"] == ["body", "pipeline", "detectors", 1, "params", "n_neighbors"]
    assert not DetectorConfig.objects.exists()


def test_an_unknown_param_and_an_unknown_detector_are_named(alice_api):
    pipeline = {"detectors": [{"key": "iforest", "params": {"bogus": 1}}, {"key": "nope"}]}
    body = assert_problem(
        alice_api.post("/detector-configs", json={"name": "x", "pipeline": pipeline}), 422
    )
    assert [e["loc"] for e in body["errors"]] == [
        ["body", "pipeline", "detectors", 0, "params", "bogus"],
        ["body", "pipeline", "detectors", 1, "key"],
    ]


def test_schema_errors_name_their_fields(alice_api):
    body = assert_problem(
        alice_api.post("/detector-configs", json={"pipeline": {"detectors": []}}), 422
    )
    locs = [e["loc"] for e in body["errors"]]
    assert ["body", "name"] in locs and ["body", "pipeline", "detectors"] in locs


def test_a_bad_threshold_is_named(alice_api):
    pipeline = {**PIPELINE, "threshold": {"kind": "contamination", "value": 0.9}}
    body = assert_problem(
        alice_api.post("/detector-configs", json={"name": "x", "pipeline": pipeline}), 422
    )
    assert body["errors"][0]["loc"] == ["body", "pipeline", "threshold", "value"]


def test_a_taken_name_is_a_422_on_name(alice_api, alice, tenant_a):
    make_config(tenant_a, alice, name="Forest")
    body = assert_problem(
        alice_api.post("/detector-configs", json={"name": "forest", "pipeline": PIPELINE}), 422
    )
    assert body["errors"][0]["loc"] == ["body", "name"]


def test_patching_the_pipeline_makes_a_new_version_and_renaming_does_not(
    alice_api, alice, tenant_a
):
    config = make_config(tenant_a, alice, name="Forest")
    r = alice_api.patch(f"/detector-configs/{config.pk}", {"name": "Trees"})
    assert (r.json()["name"], r.json()["version"]) == ("Trees", 1)
    r = alice_api.patch(f"/detector-configs/{config.pk}", {"pipeline": PIPELINE})
    assert r.status_code == 200 and r.json()["version"] == 2
    assert [v["number"] for v in r.json()["versions"]] == [1, 2]
    assert alice_api.get(f"/detector-configs/{config.pk}").json()["pipeline"]["seed"] == 7


def test_configurations_list_in_pages(alice_api, alice, tenant_a):
    for i in range(3):
        make_config(tenant_a, alice, name=f"c{i}")
    first = alice_api.get("/detector-configs?limit=2").json()
    second = alice_api.get("/detector-configs", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["name"] for c in first["items"] + second["items"]] == ["c2", "c1", "c0"]
    assert second["next_cursor"] is None


def test_a_configuration_is_deleted_unless_a_run_uses_it(alice_api, alice, tenant_a):
    unused, used = (
        make_config(tenant_a, alice, name="unused"),
        make_config(tenant_a, alice, name="used"),
    )
    run = make_run(tenant_a, alice, make_version(tenant_a, blobs(40)), used)
    assert alice_api.delete(f"/detector-configs/{unused.pk}").status_code == 204
    body = assert_problem(alice_api.delete(f"/detector-configs/{used.pk}"), 409)
    assert f"run #{run.pk}" in body["detail"]
    assert list(DetectorConfig.objects.values_list("name", flat=True)) == ["used"]
    assert AuditEvent.objects.filter(action="detector.deleted").count() == 1


@pytest.mark.parametrize("who", ["vera_api", "alice_read_api"])
def test_viewers_and_read_tokens_cannot_change_configurations(who, request, alice, tenant_a):
    api = request.getfixturevalue(who)
    config = make_config(tenant_a, alice, name="Forest")
    assert api.get(f"/detector-configs/{config.pk}").status_code == 200
    assert_problem(api.post("/detector-configs", json={"name": "x", "pipeline": PIPELINE}), 403)
    assert_problem(api.patch(f"/detector-configs/{config.pk}", {"name": "y"}), 403)
    assert_problem(api.delete(f"/detector-configs/{config.pk}"), 403)
    assert DetectorConfig.objects.get().name == "Forest"


def test_a_stranger_gets_404_on_another_tenants_configuration(charlie_api, alice, tenant_a):
    config = make_config(tenant_a, alice, name="Secret forest")
    for r in (
        charlie_api.get(f"/detector-configs/{config.pk}"),
        charlie_api.patch(f"/detector-configs/{config.pk}", {"name": "mine"}),
        charlie_api.delete(f"/detector-configs/{config.pk}"),
    ):
        assert "Secret" not in str(assert_problem(r, 404))
    assert charlie_api.get("/detector-configs").json()["items"] == []
    assert DetectorConfig.objects.get().name == "Secret forest"
