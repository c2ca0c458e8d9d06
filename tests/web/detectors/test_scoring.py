"""Online scoring service: warm models in an LRU, records → scores like the engine's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.detectors import scoring
from apps.detectors.models import TrainedModel
from pynomaly import persist
from pynomaly.catalogue import get_detector
from pynomaly.detect import PipelineConfig, Threshold, fit
from pynomaly.errors import ArtifactError, DataError, LimitExceeded
from tests.web.runs.factories import make_config, make_run, make_version

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def fresh_cache():
    scoring.cache.clear()
    yield
    scoring.cache.clear()


def training_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    df.loc[:9, ["a", "b", "c"]] += 7
    df["kind"] = np.where(np.arange(rows) % 3 == 0, "x", "y")  # a categorical input column
    return df


def train(key: str = "iforest", params: dict | None = None, df: pd.DataFrame | None = None):
    df = training_frame() if df is None else df
    spec = get_detector(key)
    config = PipelineConfig(
        detectors=((key, spec.validate_params(params or {})),),
        threshold=Threshold("contamination", 0.05),
    )
    return fit(df, config)


def register(tenant, user, fitted, media: Path, name: str = "model") -> TrainedModel:
    """Save with the engine into MEDIA_ROOT and register it the way a finished run does."""
    relative = f"models/test/{name}.skops"
    path = media / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = persist.save(fitted, path)
    version = make_version(tenant, training_frame())
    config = make_config(tenant, user, name=f"cfg-{name}")
    run = make_run(tenant, user, version, config, status="succeeded")
    return TrainedModel.objects.create(
        tenant=tenant,
        run=run,
        detector_version=config.current,
        artifact=relative,
        sha256=digest,
        feature_names=list(fitted.feature_names),
        input_columns=list(fitted.preparer.input_columns),
        threshold=float(fitted.threshold_),
    )


def records(n: int = 5, seed: int = 1) -> list[dict]:
    return training_frame(n, seed=seed).to_dict("records")


@pytest.fixture
def forest(tenant_a, alice, media):
    fitted = train("iforest")
    return fitted, register(tenant_a, alice, fitted, media)


def test_it_scores_records_exactly_like_the_engine(forest):
    fitted, model = forest
    batch = records(50)

    out = scoring.score_records(model=model, records=batch)

    expected = fitted.score(pd.DataFrame(batch))
    assert out["scores"] == expected.scores.tolist()
    assert out["labels"] == expected.labels.astype(int).tolist()
    assert out["severity"] == expected.severity.tolist()
    assert out["threshold"] == pytest.approx(model.threshold)
    assert all(type(v) is float for v in out["scores"]) and all(
        type(v) is int for v in out["labels"]
    )


def test_far_away_records_are_flagged(forest):
    _fitted, model = forest
    batch = [
        {"a": 0.1, "b": -0.2, "c": 0.0, "kind": "x"},
        {"a": 9.0, "b": 9.0, "c": -9.0, "kind": "y"},
    ]

    out = scoring.score_records(model=model, records=batch)

    assert out["labels"] == [0, 1]
    assert out["scores"][1] > out["scores"][0] and out["severity"][1] > 95


def test_it_loads_the_artifact_once_and_keeps_it_warm(forest):
    _fitted, model = forest
    for _ in range(3):
        scoring.score_records(model=model, records=records(1))

    assert scoring.cache.loads == 1
    assert model in scoring.cache


def test_a_replaced_artifact_is_loaded_again_and_the_old_one_dropped(
    forest, tenant_a, alice, media
):
    _fitted, model = forest
    scoring.score_records(model=model, records=records(2))
    other = train("iforest", {"n_estimators": 50})
    relative = "models/test/replacement.skops"
    model.sha256 = persist.save(other, media / relative)
    model.artifact = relative
    model.save()

    out = scoring.score_records(model=model, records=records(3))

    assert scoring.cache.loads == 2 and len(scoring.cache) == 1
    assert out["scores"] == other.score(pd.DataFrame(records(3))).scores.tolist()


def test_the_least_recently_used_model_is_evicted(settings, forest, tenant_a, alice, media):
    settings.SCORING_CACHE_SIZE = 2
    _fitted, first = forest
    second = register(tenant_a, alice, train("hbos"), media, name="second")
    third = register(tenant_a, alice, train("pca"), media, name="third")
    scoring.score_records(model=first, records=records(1))
    scoring.score_records(model=second, records=records(1))
    scoring.score_records(model=first, records=records(1))  # first is now the most recent

    scoring.score_records(model=third, records=records(1))

    assert first in scoring.cache and third in scoring.cache
    assert second not in scoring.cache


def test_concurrent_first_requests_load_the_model_once(forest):
    _fitted, model = forest
    results, errors = [], []

    def call():
        try:
            results.append(scoring.score_records(model=model, records=records(4)))
        except Exception as exc:  # pragma: no cover - shown by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors and len(results) == 6
    assert scoring.cache.loads == 1
    assert all(r == results[0] for r in results)


def test_a_missing_column_is_named(forest):
    _fitted, model = forest
    batch = records(3)
    del batch[2]["b"]

    with pytest.raises(DataError) as caught:
        scoring.score_records(model=model, records=batch)

    assert "record 2" in str(caught.value) and "'b'" in str(caught.value)
    assert caught.value.column == "b"


def test_extra_keys_are_ignored(forest):
    _fitted, model = forest
    batch = records(3)
    plain = scoring.score_records(model=model, records=batch)

    noisy = scoring.score_records(
        model=model, records=[{**r, "note": "ignored", "id": 7} for r in batch]
    )

    assert noisy == plain


@pytest.mark.parametrize("bad", [[], {"a": 1}, [1, 2], None])
def test_it_refuses_what_is_not_a_list_of_records(forest, bad):
    _fitted, model = forest
    with pytest.raises(DataError):
        scoring.score_records(model=model, records=bad)


def test_it_refuses_more_records_than_the_limit(settings, forest):
    settings.SCORING_MAX_RECORDS = 3
    _fitted, model = forest
    with pytest.raises(LimitExceeded, match="at most 3"):
        scoring.score_records(model=model, records=records(4))


def test_a_tampered_artifact_is_refused(forest):
    _fitted, model = forest
    path = Path(model.artifact.path)
    path.write_bytes(path.read_bytes() + b"\0")

    with pytest.raises(ArtifactError, match="checksum"):
        scoring.score_records(model=model, records=records(1))


def test_ecod_scores_records_with_its_training_set(tenant_a, alice, media):
    # ECOD ranks new rows among training + request rows: scores are usable, but depend
    # on the batch (documented in pynomaly/fastscore.py).
    fitted = train("ecod")
    model = register(tenant_a, alice, fitted, media, name="ecod")
    batch = records(20)

    out = scoring.score_records(model=model, records=batch)

    assert out["scores"] == fitted.score(pd.DataFrame(batch)).scores.tolist()


def test_one_record_is_scored_by_the_direct_forest_walk(forest):
    # PyOD's IForest path costs ~15-30 ms for one row here (joblib dispatch per tree); the
    # loaded model must take the direct walk, which gives the same scores. The speed itself
    # is measured by `make bench` (bench/scoring.py), not by a timed test.
    from pynomaly import fastscore

    fitted, model = forest
    one = records(1)
    out = scoring.score_records(model=model, records=one)

    scorer = scoring.cache.get(model)
    (decision,) = scorer.fitted.decision_functions()
    assert isinstance(decision.__self__, fastscore.DirectForest)
    assert out["scores"] == fitted.score(pd.DataFrame(one)).scores.tolist()


def test_hbos_compilation_is_paid_at_load_not_on_the_first_request(tmp_path):
    # In a fresh process (numba caches per process): load, then time the first request.
    fitted = train("hbos")
    path = tmp_path / "hbos.skops"
    digest = persist.save(fitted, path)
    script = textwrap.dedent(f"""
        import time, django
        django.setup()
        from apps.detectors import scoring
        from apps.detectors.models import TrainedModel
        model = TrainedModel(pk=1, sha256={digest!r}, input_columns=["a", "b", "c", "kind"])
        model.artifact.name = "hbos.skops"
        scoring.cache.get(model)
        t0 = time.perf_counter()
        scoring.score_records(model=model, records=[{{"a": 0.0, "b": 1.0, "c": 2.0, "kind": "x"}}])
        print(time.perf_counter() - t0)
    """)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
        "PYTHONPATH": str(ROOT),
        "MEDIA_ROOT": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    first_request = float(done.stdout.strip().splitlines()[-1])
    assert first_request < 0.3  # numba's compile alone takes 1.4-5 s


def numeric_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    return training_frame(rows, seed).drop(columns=["kind"])


@pytest.fixture
def numeric_forest(tenant_a, alice, media):
    fitted = train("iforest", df=numeric_frame())
    return fitted, register(tenant_a, alice, fitted, media, name="numeric")


def test_plain_numbers_take_the_fast_path_with_the_engines_scores(numeric_forest):
    fitted, model = numeric_forest
    batch = numeric_frame(40, seed=3).to_dict("records")
    batch[0]["a"] = 3  # an int is a number too

    out = scoring.score_records(model=model, records=batch)

    assert scoring.cache.get(model).numeric_columns == ["a", "b", "c"]
    assert scoring.cache.get(model).numeric_matrix(batch) is not None
    assert out["scores"] == fitted.score(pd.DataFrame(batch)).scores.tolist()


def test_missing_values_and_text_go_through_the_engines_preparation(numeric_forest):
    fitted, model = numeric_forest
    batch = numeric_frame(3, seed=4).to_dict("records")
    batch[1]["b"] = None  # imputed with the training median

    out = scoring.score_records(model=model, records=batch)

    assert scoring.cache.get(model).numeric_matrix(batch) is None
    assert out["scores"] == fitted.score(pd.DataFrame(batch)).scores.tolist()
    batch[2]["c"] = "lots"
    with pytest.raises(DataError, match="non-numeric"):
        scoring.score_records(model=model, records=batch)
