"""One contract, every detector in the catalogue that can run here.

Each entry must: fit and score the easy synthetic set through the real pipeline, give
one finite score per row, rank the known outliers high (ROC-AUC floor), have default
params that survive JSON, and - when marked saveable - reload from disk with
identical scores (when not, refuse to save with a clear error).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pynomaly import catalogue, persist
from pynomaly.detect import PipelineConfig, detect
from pynomaly.errors import ArtifactError, DetectorUnavailable

from .conftest import frame_of, make_easy

# Tabular detectors: the graph and time-series families have their own contracts
# (tests/engine/test_graph.py, tests/engine/test_timeseries.py).
TABULAR = [s for s in catalogue.list_detectors() if s.family not in ("graph", "time series")]
AVAILABLE = [spec.key for spec in TABULAR if spec.available]
UNAVAILABLE = [spec.key for spec in TABULAR if not spec.available]

# Smaller data or cheaper settings where the defaults would make the contract slow.
DATA = {
    "loci": {"n_inliers": 60, "n_outliers": 5},  # O(n^3): 315 rows take ~50 s
    "sod": {"n_inliers": 80, "n_outliers": 5},  # scores row by row in Python
    "abod": {"n_inliers": 150, "n_outliers": 8},
    "rod": {"n_inliers": 150, "n_outliers": 8},
    "mad": {"n_features": 1},  # MAD is univariate
}
PARAMS = {
    "inne": {"n_estimators": 50},
    "lmdd": {"n_iter": 10},
    # deep detectors: their defaults train for 10-500 epochs; tests/engine/test_deep.py
    # covers their reloads and progress, here only a short training for the ranking
    "anogan": {"epochs": 20, "epochs_query": 5},
    "alad": {"epochs": 50},
    "lunar": {"n_epochs": 50},
    "ae1svm": {"epochs": 10},
    "deepsvdd": {"epochs": 20},
    "vae": {"epoch_num": 10},
    "so_gaal": {"stop_epochs": 5},
    # MO_GAAL keeps its defaults: measured 0.79 at stop_epochs=5, k=3; 0.91 at defaults (17 s)
}
# DevNet trains on labels: the contract's unsupervised run does not apply (test_deep.py)
AVAILABLE = [k for k in AVAILABLE if not catalogue.get_detector(k).supervised]
# ROC-AUC floors below the 0.8 default, each for a documented reason.
FLOORS = {
    # Kernel PCA with an RBF kernel of default width on standardised data maps far
    # points to ~0 similarity with everything; its reconstruction error then barely
    # separates them (measured ~0.5-0.7). It must still not rank them *below* chance.
    "kpca": 0.5,
    # SOS (affinity-based) at the default perplexity of 4.5 sees 15 outliers spread
    # over 16 corners as small clusters of their own (measured 0.62 after scaling).
    "sos": 0.6,
    # ALAD (PyOD 3.6.7) stays near chance on this set: measured ROC-AUC 0.54 at its
    # defaults (200 epochs), 0.49 at 500, 0.59 at 50. Reported as weak, not hidden; here it
    # must still fit, give finite scores and reload identically.
    "alad": 0.4,
}


def _easy_for(key):
    return make_easy(**DATA.get(key, {}))


def test_the_catalogue_lists_every_shipped_tabular_pyod_detector_plus_dbscan():
    keys = {spec.key for spec in TABULAR}

    assert len(keys) == 44  # 43 shipped tabular entries in PyOD 3.6.7's knowledge base + dbscan
    assert {"iforest", "ecod", "copod", "hbos", "knn", "lof", "ocsvm", "pca", "dbscan"} <= keys


@pytest.mark.parametrize("key", AVAILABLE)
def test_every_available_detector_fits_ranks_outliers_and_round_trips(key, tmp_path):
    spec = catalogue.get_detector(key)
    params = spec.validate_params(PARAMS.get(key, {}))
    # defaults survive JSON and come back unchanged through validation
    assert spec.validate_params(json.loads(json.dumps(params))) == params
    json.dumps(spec.to_dict())
    config = PipelineConfig(detectors=((key, params),))
    assert PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    X, y = _easy_for(key)
    frame = frame_of(X)

    fitted, result = detect(frame, config)

    assert result.scores.shape == (len(X),)
    assert result.scores.dtype == np.float64
    assert np.isfinite(result.scores).all()
    assert result.labels.dtype == np.int8 and set(np.unique(result.labels)) <= {0, 1}
    auc = roc_auc_score(y, result.scores)
    assert auc >= FLOORS.get(key, 0.8), f"{spec.short_name}: ROC-AUC {auc:.3f}"

    path = tmp_path / "model.skops"
    if spec.saveable:
        persist.save(fitted, path)
        reloaded = persist.load(path)
        np.testing.assert_array_equal(reloaded.score(frame).scores, result.scores)
    else:
        with pytest.raises(ArtifactError, match="cannot be saved"):
            persist.save(fitted, path)


@pytest.mark.parametrize("key", UNAVAILABLE)
def test_unavailable_detectors_say_why_and_how_to_install(key):
    spec = catalogue.get_detector(key)

    assert spec.available is False
    assert spec.unavailable_reason
    if not spec.supervised and spec.requires:
        assert spec.install_hint and "pip install" in spec.install_hint
    with pytest.raises(DetectorUnavailable, match=spec.short_name):
        catalogue.build_detector(key, {}, seed=0)


def test_torch_detectors_point_to_the_deep_extra():
    spec = catalogue.get_detector("autoencoder")

    if spec.available:
        pytest.skip("torch is installed here")
    assert spec.install_hint == "pip install 'pynomaly[deep]'"


@pytest.mark.parametrize("key", [k for k in AVAILABLE if not catalogue.get_detector(k).saveable])
def test_detectors_marked_unsaveable_really_cannot_be_held_by_skops(key):
    # keeps the hard-coded list honest: if skops learns to hold one, this fails
    import skops.io

    X, _ = _easy_for(key)
    estimator = catalogue.build_detector(key, PARAMS.get(key, {}), seed=0).fit(X)

    with pytest.raises(Exception):  # noqa: B017 - any failure to serialise counts
        data = skops.io.dumps(estimator)
        skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
