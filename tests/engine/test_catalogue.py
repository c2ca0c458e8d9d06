"""The catalogue: typed params with readable errors, ordering, lookup, building."""

from __future__ import annotations

import pytest

from pynomaly import catalogue
from pynomaly.catalogue import ParamSpec, complexity_class_of
from pynomaly.errors import ParamError, UnknownDetector


def test_params_accept_strings_from_forms():
    spec = catalogue.get_detector("iforest")

    params = spec.validate_params({"n_estimators": "50", "max_samples": "0.5", "bootstrap": "true"})

    assert params["n_estimators"] == 50
    assert params["max_samples"] == 0.5
    assert params["bootstrap"] is True
    assert params["max_features"] == 1.0  # defaults are filled in


def test_max_samples_also_accepts_auto():
    assert catalogue.get_detector("iforest").param("max_samples").coerce("AUTO") == "auto"


@pytest.mark.parametrize(
    ("raw", "message"),
    [("0", r"\[1, inf\]"), ("ten", "whole number"), ("2.5", "whole number"), (True, "whole")],
)
def test_bad_values_name_the_field_and_say_what_is_wrong(raw, message):
    spec = catalogue.get_detector("knn")

    with pytest.raises(ParamError, match=message) as caught:
        spec.validate_params({"n_neighbors": raw})
    assert caught.value.field == "n_neighbors"


def test_a_fraction_excludes_zero():
    with pytest.raises(ParamError, match=r"\(0, 1\]"):
        catalogue.get_detector("iforest").validate_params({"max_samples": 0})


def test_choices_are_enforced_case_insensitively():
    spec = catalogue.get_detector("knn")

    assert spec.validate_params({"method": "MEAN"})["method"] == "mean"
    with pytest.raises(ParamError, match="must be one of largest, mean, median"):
        spec.validate_params({"method": "biggest"})


def test_unknown_params_are_refused_with_the_accepted_list():
    with pytest.raises(ParamError, match="accepted: n_neighbors"):
        catalogue.get_detector("lof").validate_params({"k": 3})


def test_contamination_and_plumbing_are_not_detector_params():
    spec = catalogue.get_detector("iforest")

    with pytest.raises(ParamError, match="threshold"):
        spec.validate_params({"contamination": 0.2})
    with pytest.raises(ParamError, match="managed by Pynomaly"):
        spec.validate_params({"n_jobs": 4})
    assert not {"contamination", "n_jobs", "random_state", "verbose"} & set(spec.defaults())


def test_none_is_accepted_where_the_default_is_none():
    spec = catalogue.get_detector("pca")

    assert spec.validate_params({"n_components": "none"})["n_components"] is None
    assert spec.validate_params({"n_components": "3"})["n_components"] == 3


def test_a_required_value_cannot_be_blank():
    with pytest.raises(ParamError, match="required"):
        ParamSpec("n", "int", 5).coerce("")


def test_every_default_is_valid_for_its_own_spec():
    for spec in catalogue.list_detectors():
        for param in spec.params:
            assert param.coerce(param.default) == param.default, (spec.key, param.name)


def test_benchmark_ranked_detectors_come_first_in_rank_order():
    specs = catalogue.list_detectors()
    ranks = [s.benchmark_rank for s in specs if s.benchmark_rank is not None]

    assert [s.key for s in specs[:5]] == ["iforest", "knn", "ecod", "copod", "hbos"]
    assert ranks == sorted(ranks)


def test_listing_filters_by_family_and_availability():
    proximity = catalogue.list_detectors(family="proximity")

    assert proximity and all(s.family == "proximity" for s in proximity)
    assert "dbscan" in {s.key for s in proximity}
    assert all(s.available for s in catalogue.list_detectors(available=True))
    assert "proximity" in catalogue.families()


def test_an_unknown_key_says_how_to_list_keys():
    with pytest.raises(UnknownDetector, match="list the keys"):
        catalogue.get_detector("nope")


def test_lookup_ignores_case():
    assert catalogue.get_detector("IForest").short_name == "IForest"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("O(n * d * log(n))", "nlogn"),
        ("O(n^2 * d)", "quadratic"),
        ("O(n^2 * d) to O(n^3)", "cubic"),
        ("O(n * k * d^2) per EM iteration", "linear"),
        ("O(n_iter * n * d)", "linear"),
        ("varies (depends on base estimators)", "quadratic"),
    ],
)
def test_complexity_class_takes_the_worst_term_in_rows(text, expected):
    assert complexity_class_of(text) == expected


def test_build_detector_sets_the_seed_and_silences_logging():
    estimator = catalogue.build_detector("iforest", {"n_estimators": 10}, seed=123)

    assert estimator.random_state == 123
    assert estimator.verbose == 0
    assert estimator.n_estimators == 10


def test_build_detector_validates_params_too():
    with pytest.raises(ParamError):
        catalogue.build_detector("knn", {"n_neighbors": -1}, seed=0)


def test_spec_to_dict_is_json_ready():
    import json

    data = json.loads(json.dumps(catalogue.get_detector("ocsvm").to_dict()))

    assert data["key"] == "ocsvm"
    nu = next(p for p in data["params"] if p["name"] == "nu")
    assert nu["maximum"] == 1.0 and nu["exclusive_minimum"] is True
