from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.detectors.models import DetectorConfig
from pynomaly.catalogue import get_detector
from pynomaly.cost import estimate


def _url(tenant, name, **kw):
    return reverse(f"detectors:{name}", kwargs={"tenant_slug": tenant.slug, **kw})


def _form(**overrides):
    data = {
        "name": "Forest",
        "description": "",
        "algorithm": "iforest",
        "combine": "average",
        "scaling": "standard",
        "encode_categoricals": "on",
        "impute": "on",
        "drop_constant": "on",
        "threshold_kind": "contamination",
        "threshold_value": "0.05",
        "iforest__n_estimators": "150",
        "iforest__max_samples": "auto",
        "iforest__max_features": "1.0",
    }
    data.update(overrides)
    return data


def test_creating_a_configuration_stores_version_one_with_the_engine_pipeline(
    alice_client, tenant_a
):
    response = alice_client.post(_url(tenant_a, "config_create"), _form())
    config = DetectorConfig.objects.get(tenant=tenant_a, name="Forest")
    assert response.status_code == 302
    version = config.current
    assert version.number == 1
    assert version.pipeline["detectors"][0]["key"] == "iforest"
    assert version.pipeline["detectors"][0]["params"]["n_estimators"] == 150
    assert version.pipeline["threshold"] == {"kind": "contamination", "value": 0.05}
    assert (
        AuditEvent.objects.filter(action="detector.created", target_id=str(config.pk)).count() == 1
    )


def test_the_form_rejects_out_of_range_params_with_a_field_error(alice_client, tenant_a):
    response = alice_client.post(_url(tenant_a, "config_create"), _form(iforest__n_estimators="0"))
    assert response.status_code == 400  # the form re-renders with its errors: a refusal
    form = response.context["form"]
    assert "iforest__n_estimators" in form.errors
    assert "must be in [1" in form.errors["iforest__n_estimators"][0]
    assert not DetectorConfig.objects.filter(tenant=tenant_a).exists()


def test_a_fraction_outside_its_open_interval_is_refused_by_the_engine_rule(alice_client, tenant_a):
    response = alice_client.post(_url(tenant_a, "config_create"), _form(iforest__max_features="0"))
    assert "iforest__max_features" in response.context["form"].errors


def test_a_bad_threshold_is_an_error_on_the_threshold_value(alice_client, tenant_a):
    response = alice_client.post(_url(tenant_a, "config_create"), _form(threshold_value="0.9"))
    assert (
        "contamination must be in (0, 0.5]" in response.context["form"].errors["threshold_value"][0]
    )


def test_an_ensemble_stores_every_detector_and_the_combine_method(alice_client, tenant_a):
    alice_client.post(
        _url(tenant_a, "config_create"),
        _form(
            ensemble_with=["ecod", "knn"],
            combine="maximum",
            knn__n_neighbors="7",
            knn__method="mean",
            knn__radius="1.0",
            knn__algorithm="auto",
            knn__leaf_size="30",
            knn__metric="minkowski",
            knn__p="2",
        ),
    )
    pipeline = DetectorConfig.objects.get(name="Forest").current.pipeline
    assert [d["key"] for d in pipeline["detectors"]] == ["iforest", "ecod", "knn"]
    assert pipeline["combine"] == "maximum"
    assert pipeline["detectors"][2]["params"]["n_neighbors"] == 7


def test_an_edit_creates_version_two_and_old_runs_keep_version_one(
    alice, alice_client, tenant_a, settings, tmp_path
):
    from tests.web.runs.factories import blobs, make_run, make_version

    settings.MEDIA_ROOT = str(tmp_path)
    alice_client.post(_url(tenant_a, "config_create"), _form())
    config = DetectorConfig.objects.get(name="Forest")
    old_run = make_run(tenant_a, alice, make_version(tenant_a, blobs(50)), config)

    alice_client.post(
        _url(tenant_a, "config_edit", config_id=config.pk), _form(iforest__n_estimators="300")
    )
    assert config.current.number == 2
    assert config.current.pipeline["detectors"][0]["params"]["n_estimators"] == 300
    old_run.refresh_from_db()
    assert old_run.detector_version.number == 1
    assert old_run.detector_version.pipeline["detectors"][0]["params"]["n_estimators"] == 150
    page = alice_client.get(_url(tenant_a, "config_detail", config_id=config.pk)).content.decode()
    assert 'id="version-1"' in page and 'id="version-2"' in page
    assert AuditEvent.objects.filter(action="detector.updated").count() == 1


def test_saving_unchanged_settings_adds_no_version(alice_client, tenant_a):
    alice_client.post(_url(tenant_a, "config_create"), _form())
    config = DetectorConfig.objects.get(name="Forest")
    alice_client.post(_url(tenant_a, "config_edit", config_id=config.pk), _form())
    assert config.versions.count() == 1


def test_changing_the_algorithm_rerenders_its_parameter_fields(alice_client, tenant_a):
    response = alice_client.get(
        _url(tenant_a, "config_params"), {"algorithm": "knn"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="detector-params"')
    assert 'name="knn__n_neighbors"' in html and 'min="1"' in html
    assert "iforest__" not in html


def test_update_parameters_works_without_javascript_and_saves_nothing(alice_client, tenant_a):
    response = alice_client.post(
        _url(tenant_a, "config_create"), _form(algorithm="lof", _refresh="1")
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="lof__n_neighbors"' in html
    assert 'value="Forest"' in html
    assert not DetectorConfig.objects.exists()


def test_the_name_must_be_unique_in_the_workspace(alice_client, tenant_a):
    alice_client.post(_url(tenant_a, "config_create"), _form())
    response = alice_client.post(_url(tenant_a, "config_create"), _form(name="forest"))
    assert "name" in response.context["form"].errors


def test_a_viewer_may_look_but_not_configure(vera_client, alice, tenant_a):
    from tests.web.runs.factories import make_config

    config = make_config(tenant_a, alice)
    assert vera_client.get(_url(tenant_a, "config_detail", config_id=config.pk)).status_code == 200
    assert vera_client.get(_url(tenant_a, "config_create")).status_code == 403
    assert vera_client.post(_url(tenant_a, "config_create"), _form(name="Mine")).status_code == 403
    assert (
        vera_client.post(_url(tenant_a, "config_edit", config_id=config.pk), _form()).status_code
        == 403
    )
    assert config.versions.count() == 1


def test_a_stranger_gets_404_on_every_detector_url(charlie_client, alice, tenant_a):
    from tests.web.runs.factories import make_config

    config = make_config(tenant_a, alice)
    for name, kw in [
        ("catalogue", {}),
        ("detail", {"key": "knn"}),
        ("configs", {}),
        ("config_create", {}),
        ("config_params", {}),
        ("config_detail", {"config_id": config.pk}),
        ("config_edit", {"config_id": config.pk}),
    ]:
        assert charlie_client.get(_url(tenant_a, name, **kw)).status_code == 404, name
    assert (
        charlie_client.post(_url(tenant_a, "config_edit", config_id=config.pk), _form()).status_code
        == 404
    )


def test_a_config_of_tenant_a_is_404_under_tenant_b(charlie_client, alice, tenant_a, tenant_b):
    from tests.web.runs.factories import make_config

    config = make_config(tenant_a, alice)
    assert (
        charlie_client.get(_url(tenant_b, "config_detail", config_id=config.pk)).status_code == 404
    )


# ---------------------------------------------------------------- cost guard
def _specs(*keys):
    return [(get_detector(k).short_name, get_detector(k).complexity_class) for k in keys]


def test_the_cost_guard_warns_for_knn_on_200k_rows():
    cost = estimate(rows=200_000, columns=10, detectors=_specs("knn"))
    assert cost.heavy
    assert "KNN" in cost.warnings[0]
    assert cost.suggested_max_fit_rows and cost.suggested_max_fit_rows < 200_000
    assert set(cost.suggested_detectors) == {"iforest", "ecod", "hbos"}
    assert cost.seconds > 600


def test_the_cost_guard_does_not_warn_for_iforest_on_200k_rows():
    cost = estimate(rows=200_000, columns=10, detectors=_specs("iforest"))
    assert not cost.heavy
    assert cost.seconds < 120
    assert cost.time_text.startswith("≈ ") and cost.memory_text.endswith(("MB", "GB"))


def test_subsampling_brings_knn_under_the_warning():
    cost = estimate(rows=200_000, columns=10, detectors=_specs("knn"), max_fit_rows=20_000)
    assert not cost.heavy
    assert cost.fit_rows == 20_000


def test_cubic_detectors_warn_much_earlier():
    assert estimate(rows=20_000, columns=5, detectors=_specs("loci")).heavy
    assert not estimate(rows=20_000, columns=5, detectors=_specs("hbos")).heavy
