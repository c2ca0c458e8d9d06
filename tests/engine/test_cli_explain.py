"""`pynomaly detect` says why it flagged its top rows, and with which method."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from tests.engine.test_cli import pynomaly


def test_detect_prints_the_attributed_features_of_the_flagged_rows(tmp_path):
    rng = np.random.default_rng(5)
    df = pd.DataFrame(rng.normal(size=(300, 3)), columns=["temp", "rpm", "load"])
    df.loc[:2, "rpm"] = [12.0, -14.0, 16.0]
    path = tmp_path / "m.csv"
    df.to_csv(path, index=False)

    result = pynomaly("detect", path, "-d", "iforest", "--top-k", "3", "--explain", "3")

    assert result.returncode == 0, result.stderr
    assert "why (attributions by Tree SHAP on the isolation forest" in result.stdout
    rows = re.findall(r"^  #(\d+) score \S+: (\w+) \+", result.stdout, re.M)
    assert len(rows) == 3
    planted = [feature for r, feature in rows if int(r) < 3]
    assert len(planted) >= 2 and set(planted) == {"rpm"}

    quiet = pynomaly("detect", path, "-d", "iforest", "--top-k", "3", "--explain", "0")
    assert quiet.returncode == 0 and "why (" not in quiet.stdout
