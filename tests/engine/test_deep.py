"""The deep (torch) detectors through the real pipeline: saved without pickle and reloaded
with identical scores, progress per epoch, cancel within an epoch, device, fine-tuning.

Tiny data and 1-2 epochs: these check behaviour, not detection quality (the contract test
does that with PyOD's defaults cut down).
"""

from __future__ import annotations

import numpy as np
import pytest

from pynomaly import catalogue, deep, persist, torch_state
from pynomaly.detect import PipelineConfig, detect, fit
from pynomaly.errors import ArtifactError, Cancelled, DataError, ParamError

from .conftest import frame_of, make_easy

torch = pytest.importorskip("torch")

# Cheapest settings that still train (epochs <= 2) for every deep detector.
QUICK = {
    "autoencoder": {"epoch_num": 2},
    "vae": {"epoch_num": 2},
    "deepsvdd": {"epochs": 2},
    "so_gaal": {"stop_epochs": 1},
    "mo_gaal": {"stop_epochs": 1, "k": 2},
    "lunar": {"n_epochs": 2},
    "dif": {"n_ensemble": 3},
    "anogan": {"epochs": 2, "epochs_query": 2},
    "alad": {"epochs": 2},
    "ae1svm": {"epochs": 2, "kernel_approx_features": 64},
    "devnet": {"epochs": 2},
}
TRAINED = sorted(k for k in QUICK if k != "dif")


def _data(n_inliers: int = 120, n_outliers: int = 8):
    X, y = make_easy(n_inliers=n_inliers, n_outliers=n_outliers)
    return frame_of(X), y


def _config(key: str, **params) -> PipelineConfig:
    spec = catalogue.get_detector(key)
    return PipelineConfig(detectors=((key, spec.validate_params({**QUICK[key], **params})),))


def _labels(key: str, y: np.ndarray) -> np.ndarray | None:
    return y.astype(float) if catalogue.get_detector(key).supervised else None


def test_every_deep_tabular_detector_is_in_the_catalogue_and_runs_here():
    keys = {s.key for s in catalogue.list_detectors(available=True)}

    assert set(deep.DEEP_KEYS) <= keys
    assert catalogue.get_detector("devnet").supervised  # the labelled path


@pytest.mark.parametrize("key", sorted(QUICK))
def test_a_reloaded_deep_model_gives_identical_scores(key, tmp_path):
    frame, y = _data()
    fitted, result = detect(frame, _config(key), train_labels=_labels(key, y))
    path = tmp_path / "model.skops"

    persist.save(fitted, path)
    reloaded = persist.load(path)

    np.testing.assert_array_equal(reloaded.score(frame).scores, result.scores)
    assert reloaded.device == "cpu"


def test_the_saved_network_is_read_back_with_weights_only(tmp_path):
    # the torch part refuses code: a pickled callable in place of the state is refused
    frame, _ = _data()
    fitted, _ = detect(frame, _config("autoencoder"))
    data = deep.dumps("autoencoder", fitted.detectors_[0])
    state, meta = torch_state.loads(data)
    assert any(k.startswith("model/") for k in state)
    assert meta["key"] == "autoencoder"

    import io

    buffer = io.BytesIO()
    torch.save({"format": torch_state.FORMAT, "state_dict": {}, "attributes": print}, buffer)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        torch_state.loads(buffer.getvalue())


def test_a_deep_model_file_edited_after_saving_is_refused(tmp_path):
    frame, _ = _data()
    fitted, _ = detect(frame, _config("deepsvdd"))
    path = tmp_path / "model.skops"
    persist.save(fitted, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ArtifactError, match="checksum"):
        persist.load(path)


@pytest.mark.parametrize("key", TRAINED)
def test_training_reports_every_epoch_with_an_eta(key):
    frame, y = _data()
    seen: list[dict] = []
    config = _config(key)

    fit(
        frame,
        config,
        train_labels=_labels(key, y),
        training=deep.Training(on_epoch=seen.append),
    )

    epochs = deep.n_epochs(key, dict(config.detectors[0][1]))
    assert [d["epoch"] for d in seen] == list(range(1, epochs + 1))
    assert all(d["epochs"] == epochs for d in seen)
    assert seen[-1]["eta_seconds"] == 0
    assert all(d["eta_seconds"] >= 0 for d in seen)


def test_the_autoencoder_reports_its_loss_per_epoch():
    frame, _ = _data()
    seen: list[dict] = []

    fit(frame, _config("autoencoder"), training=deep.Training(on_epoch=seen.append))

    assert all(isinstance(d["loss"], float) and d["loss"] > 0 for d in seen)


@pytest.mark.parametrize("key", ["autoencoder", "deepsvdd", "lunar"])
def test_a_cancel_stops_training_within_one_epoch(key):
    frame, _ = _data(n_inliers=400)
    seen: list[dict] = []
    asked = {"stop": False}

    def on_epoch(detail):
        seen.append(detail)
        asked["stop"] = True  # cancel as soon as the first epoch ends

    config = _config(key, **{deep.EPOCH_PARAM[key]: 50})
    with pytest.raises(Cancelled):
        fit(
            frame,
            config,
            training=deep.Training(on_epoch=on_epoch),
            should_stop=lambda: asked["stop"],
        )

    # asked at the end of the first epoch: training stops there
    assert len(seen) == 1, seen


def test_device_selection(monkeypatch):
    monkeypatch.setenv("PYNOMALY_DEVICE", "cpu")
    assert deep.resolve_device() == "cpu"
    monkeypatch.setenv("PYNOMALY_DEVICE", "auto")
    assert deep.resolve_device() == ("cuda:0" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("PYNOMALY_DEVICE", "tpu")
    with pytest.raises(ParamError, match="auto, cpu or cuda"):
        deep.resolve_device()


def test_cuda_asked_for_without_a_gpu_is_refused_with_a_message(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    monkeypatch.setenv("PYNOMALY_DEVICE", "cuda")
    frame, _ = _data()
    with pytest.raises(ParamError, match="no CUDA GPU"):
        fit(frame, _config("autoencoder"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
def test_cpu_and_gpu_scores_agree_within_the_stated_tolerance(monkeypatch):
    frame, _ = _data()
    monkeypatch.setenv("PYNOMALY_DEVICE", "cpu")
    _, cpu = detect(frame, _config("autoencoder"))
    monkeypatch.setenv("PYNOMALY_DEVICE", "cuda")
    fitted, gpu = detect(frame, _config("autoencoder"))
    assert fitted.device.startswith("cuda")
    np.testing.assert_allclose(gpu.scores, cpu.scores, rtol=1e-3, atol=1e-4)


def test_fine_tuning_starts_from_the_base_models_weights():
    frame, _ = _data()
    base = fit(frame, _config("autoencoder"))
    shifted = frame + 0.5
    base_weights = {k: v.clone() for k, v in base.detectors_[0].model.state_dict().items()}
    # a learning rate so small that training barely moves the weights shows where it began
    still = {"epoch_num": 1, "lr": 1e-12}

    tuned = fit(shifted, _config("autoencoder", **still), training=deep.Training(base=base))
    fresh = fit(shifted, _config("autoencoder", **still))

    name = next(k for k in base_weights if k.endswith("weight"))
    tuned_w = tuned.detectors_[0].model.state_dict()[name]
    fresh_w = fresh.detectors_[0].model.state_dict()[name]
    assert torch.allclose(tuned_w, base_weights[name], atol=1e-6)
    assert not torch.allclose(fresh_w, base_weights[name], atol=1e-3)
    # the base model itself is untouched
    assert torch.equal(base.detectors_[0].model.state_dict()[name], base_weights[name])


def test_fine_tuning_refuses_another_schema_or_detector():
    frame, _ = _data()
    base = fit(frame, _config("autoencoder"))
    other = frame.rename(columns={"x0": "other"})

    with pytest.raises(ParamError, match="same schema"):
        fit(other, _config("autoencoder"), training=deep.Training(base=base))
    with pytest.raises(ParamError, match="same detector"):
        fit(frame, _config("vae"), training=deep.Training(base=base))
    svdd = fit(frame, _config("deepsvdd"))
    with pytest.raises(ParamError, match="cannot be fine-tuned"):
        fit(frame, _config("deepsvdd"), training=deep.Training(base=svdd))


def test_devnet_needs_training_labels():
    frame, _ = _data()
    with pytest.raises(DataError, match="training label"):
        fit(frame, _config("devnet"))


def test_a_deep_model_saved_with_another_detectors_state_is_refused(tmp_path):
    frame, _ = _data()
    fitted, _ = detect(frame, _config("autoencoder"))
    data = deep.dumps("autoencoder", fitted.detectors_[0])
    with pytest.raises(ValueError, match="not a saved vae"):
        deep.loads("vae", data, lambda d: None)


def test_the_cost_guard_counts_rows_times_epochs_for_deep_detectors():
    from pynomaly import cost

    def seconds(rows, epochs):
        return cost.estimate_pipeline(
            rows=rows,
            columns=20,
            keys=["autoencoder"],
            params={"autoencoder": {"epoch_num": epochs}},
        ).seconds

    base = seconds(10_000, 10)
    assert seconds(10_000, 20) - base == pytest.approx(base - seconds(10_000, 0), rel=1e-6)
    assert seconds(20_000, 10) > base
    heavy = cost.estimate_pipeline(rows=1_000_000, columns=20, keys=["autoencoder"])
    assert heavy.heavy and "epochs" in heavy.warnings[0]
    # a fit sample makes it cheaper: deep detectors train on the sample only
    sampled = cost.estimate_pipeline(
        rows=1_000_000, columns=20, keys=["autoencoder"], max_fit_rows=10_000
    )
    assert sampled.seconds < heavy.seconds / 10


def test_the_cost_guard_counts_anogans_per_row_query_and_refuses_a_large_run():
    from pynomaly import cost

    def anogan(rows, query, **kw):
        return cost.estimate_pipeline(
            rows=rows,
            columns=5,
            keys=["anogan"],
            params={"anogan": {"epochs": 1, "epochs_query": query}},
            **kw,
        )

    small = anogan(1_000, 1)
    # every query step costs the same again for every training row
    step = anogan(1_000, 2).seconds - small.seconds
    assert anogan(1_000, 10).seconds - small.seconds == pytest.approx(9 * step, rel=1e-6)
    assert step > 1.0  # 1,000 rows x one step: seconds, not milliseconds
    assert not small.heavy
    # the same number of training epochs on 100k rows with PyOD's 20 query steps: refused
    big = anogan(100_000, 20)
    assert big.heavy
    assert "AnoGAN optimises a latent point for every row" in big.warnings[0]
    # an AutoEncoder with the same rows, columns and one epoch is nowhere near the limit
    ae = cost.estimate_pipeline(
        rows=100_000, columns=5, keys=["autoencoder"], params={"autoencoder": {"epoch_num": 1}}
    )
    assert not ae.heavy
    # a fit sample brings it back under the limit
    assert not anogan(100_000, 20, max_fit_rows=2_000).heavy


def test_devnet_ranks_its_labelled_anomalies_highest():
    # PyOD 3.6.7 passes DevNet's loss its arguments swapped (deep.fix_devnet_loss): without
    # the fix the labelled anomalies score lowest (ROC-AUC 0.0 here)
    from sklearn.metrics import roc_auc_score

    frame, y = _data()
    known = np.full(len(y), np.nan)
    known[np.flatnonzero(y == 1)[:5]] = 1
    known[np.flatnonzero(y == 0)[:40]] = 0
    _, result = detect(frame, _config("devnet"), train_labels=known)
    assert roc_auc_score(y, result.scores) > 0.95
