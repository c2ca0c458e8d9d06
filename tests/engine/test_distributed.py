"""Partitioned scoring on a real Dask LocalCluster (two worker processes): identical scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pynomaly import distributed
from pynomaly.cli import main
from pynomaly.detect import fit
from pynomaly.errors import DataError
from pynomaly.persist import load, save
from pynomaly.pipeline import PipelineConfig


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n) * 2, "kind": rng.choice(["x", "y"], n)}
    )
    df.loc[::97, "a"] += 9.0
    return df


@pytest.fixture(scope="module")
def cluster():
    with distributed.connect("local:2") as client:
        yield client


def test_partitions_fall_on_chunk_boundaries():
    parts = distributed.partitions(1050, chunk=100, partition_rows=250)
    assert [(p.start, p.stop) for p in parts] == [(0, 200), (200, 400), (400, 600), (600, 800),
                                                  (800, 1000), (1000, 1050)]  # fmt: skip
    assert [
        (p.start, p.stop) for p in distributed.partitions(50, chunk=100, partition_rows=10)
    ] == [(0, 50)]


@pytest.mark.parametrize("detectors", [(("iforest", {}),), (("ecod", {}), ("hbos", {}))])
def test_scores_on_the_cluster_equal_one_process(cluster, tmp_path: Path, detectors):
    train, new = _frame(800), _frame(5_000, seed=1)
    fitted = fit(train, PipelineConfig(detectors=detectors).validated())
    sha = save(fitted, tmp_path / "m.skops")
    data = tmp_path / "new.parquet"
    pq.write_table(pa.Table.from_pandas(new, preserve_index=False), data, row_group_size=700)
    expected = load(tmp_path / "m.skops").score(new, chunk_size=400)
    got = distributed.score_parquet(
        fitted, str(tmp_path / "m.skops"), str(data), cluster,
        sha256=sha, chunk_size=400, partition_rows=1_000,
    )  # fmt: skip
    np.testing.assert_array_equal(got.scores, expected.scores)
    np.testing.assert_array_equal(got.labels, expected.labels)
    np.testing.assert_array_equal(got.severity, expected.severity)
    assert got.threshold == expected.threshold


def test_a_missing_column_or_file_is_a_data_error(cluster, tmp_path: Path):
    fitted = fit(_frame(300), PipelineConfig(detectors=(("iforest", {}),)).validated())
    save(fitted, tmp_path / "m.skops")
    data = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0]}), data)
    with pytest.raises(DataError, match="'b'"):
        distributed.score_parquet(fitted, str(tmp_path / "m.skops"), str(data), cluster)
    with pytest.raises(DataError, match="not found"):
        distributed.score_parquet(
            fitted, str(tmp_path / "m.skops"), str(tmp_path / "no.parquet"), cluster
        )


def test_the_cli_scores_on_a_local_cluster_like_one_process(tmp_path: Path, capsys):
    fitted = fit(_frame(500), PipelineConfig(detectors=(("iforest", {}),)).validated())
    save(fitted, tmp_path / "m.skops")
    new = _frame(3_000, seed=2)
    data = tmp_path / "new.parquet"
    pq.write_table(pa.Table.from_pandas(new, preserve_index=False), data, row_group_size=1000)
    args = ["score", str(tmp_path / "m.skops"), str(data), "-q"]
    assert main([*args, "-o", str(tmp_path / "one.parquet")]) == 0
    assert main([*args, "--dask", "local:2", "-o", str(tmp_path / "dask.parquet")]) == 0
    one, many = (
        pd.read_parquet(tmp_path / "one.parquet"),
        pd.read_parquet(tmp_path / "dask.parquet"),
    )
    pd.testing.assert_frame_equal(one, many)
    assert main([*args, "--dask", "local:x", "-o", str(tmp_path / "bad.parquet")]) != 0
    assert "local:N" in capsys.readouterr().err
    csv = tmp_path / "new.csv"
    new.to_csv(csv, index=False)
    assert main(["score", str(tmp_path / "m.skops"), str(csv), "--dask", "local:1", "-q",
                 "-o", str(tmp_path / "c.parquet")]) != 0  # fmt: skip
    assert "Parquet" in capsys.readouterr().err
