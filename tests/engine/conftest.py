"""Engine fixtures: no Django here, so these tests run with ``-p no:django``.

* ``easy_frame``: 300 Gaussian inliers and 15 far outliers (known rows) - any working
  detector ranks the outliers on top.
* ``adbench``: loads a real ADBench dataset from the shared folder beside the
  checkout, or skips the test with the reason when that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
ADBENCH = SHARED / "data" / "adbench"


def make_easy(n_inliers: int = 300, n_outliers: int = 15, n_features: int = 4, seed: int = 0):
    """Inliers from N(0, 1); outliers about 6 units away along random corners."""
    rng = np.random.default_rng(seed)
    inliers = rng.normal(size=(n_inliers, n_features))
    corners = np.sign(rng.normal(size=(n_outliers, n_features)))
    outliers = 6.0 * corners + 0.5 * rng.normal(size=(n_outliers, n_features))
    X = np.vstack([inliers, outliers])
    y = np.r_[np.zeros(n_inliers, dtype=int), np.ones(n_outliers, dtype=int)]
    return X, y


def frame_of(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


@pytest.fixture
def easy():
    """(X, y) of the easy synthetic set."""
    return make_easy()


@pytest.fixture
def easy_frame(easy):
    """(DataFrame, y) of the easy synthetic set."""
    X, y = easy
    return frame_of(X), y


def load_adbench(name: str):
    """(X float64, y int) of ADBench dataset ``name``; skips when the data is absent."""
    path = ADBENCH / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"ADBench data not found at {path} (the shared folder beside the checkout)")
    with np.load(path) as data:
        return np.ascontiguousarray(data["X"], dtype=np.float64), data["y"].astype(int)


@pytest.fixture
def adbench():
    return load_adbench
