"""The pipeline must not change what PyOD computes.

With ``PrepareOptions.none()`` (numeric columns as they are) a one-detector pipeline
gives the same scores as calling PyOD directly with the same params and seed, on
real ADBench data.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from pynomaly import catalogue
from pynomaly.detect import PipelineConfig, detect
from pynomaly.prepare import PrepareOptions

from .conftest import frame_of

DETECTORS = ["iforest", "ecod", "copod", "hbos", "knn", "lof", "ocsvm", "pca"]
DATASETS = ["29_Pima", "39_vertebral", "47_yeast"]
SEED = 7


def _pyod_scores(key: str, X: np.ndarray) -> np.ndarray:
    spec = catalogue.get_detector(key)
    module, _, name = spec.class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    kwargs = {"random_state": SEED} if key == "iforest" else {}
    return cls(**kwargs).fit(X).decision_function(X)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("key", DETECTORS)
def test_the_pipeline_scores_exactly_like_pyod_called_directly(key, dataset, adbench):
    X, _ = adbench(dataset)
    config = PipelineConfig(detectors=((key, {}),), prepare=PrepareOptions.none(), seed=SEED)

    _, result = detect(frame_of(X), config)

    expected = _pyod_scores(key, X)
    assert np.max(np.abs(result.scores - expected)) <= 1e-9
