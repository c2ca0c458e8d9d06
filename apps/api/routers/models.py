"""Trained models: the fitted pipelines runs saved, and synchronous scoring of new records."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from apps.detectors.models import TrainedModel
from pynomaly.errors import ArtifactError, DataError, EngineError

from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import ModelOut, ModelPage, ScoreIn, ScoreOut
from .common import LIMIT_DESCRIPTION, scoped_or_404

router = Router(tags=["models"])


def model_out(m: TrainedModel) -> dict:
    return {"id": m.pk, "run_id": m.run_id, "detector_config_id": m.detector_version.config_id,
            "detector_version": m.detector_version.number, "feature_names": m.feature_names,
            "input_columns": m.input_columns, "threshold": m.threshold, "created_at": m.created_at}


def _models(request: HttpRequest):
    return TrainedModel.objects.for_tenant(request.tenant).select_related("detector_version")


@router.get("", response=ModelPage, summary="Trained models, newest first")
def list_models(request: HttpRequest, limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
                cursor: str | None = Query(None, max_length=2000)):
    return page(_models(request), limit=limit, cursor=cursor, serialize=model_out)


@router.get("/{int:model_id}", response=ModelOut, summary="One trained model")
def get_model(request: HttpRequest, model_id: int):
    return model_out(scoped_or_404(_models(request), request, model_id, "model"))


# Scoring changes nothing, so a read-scope token may score (VIEW is checked for every request).
@router.post("/{int:model_id}/score", response=ScoreOut,
             summary="Score up to 10,000 records synchronously with a trained model")
def score(request: HttpRequest, model_id: int, body: ScoreIn):
    model = scoped_or_404(_models(request), request, model_id, "model")
    for i, record in enumerate(body.records):
        missing = [c for c in model.input_columns if c not in record]
        if missing:
            msg = f"record {i} has no value for column '{missing[0]}' (the model reads: {', '.join(model.input_columns)})"
            raise ApiProblem(422, msg, errors=[{"loc": ["body", "records", i, c], "msg": "required column missing"}
                                               for c in missing], title="Validation failed")
    try:
        from apps.detectors.scoring import score_records
    except ImportError:
        raise ApiProblem(503, "Online scoring is not available on this server yet.") from None
    try:
        return score_records(model=model, records=body.records)
    except DataError as exc:
        loc = ["body", "records"] + ([exc.column] if getattr(exc, "column", None) is not None else [])
        raise ApiProblem(422, str(exc), errors=[{"loc": loc, "msg": str(exc)}], title="Validation failed") from None
    except ArtifactError as exc:
        raise ApiProblem(409, f"The model's stored artifact cannot be used: {exc}") from None
    except EngineError as exc:
        raise ApiProblem(422, str(exc)) from None
    except (TypeError, ValueError) as exc:  # values the model cannot take (nested lists, text in numbers)
        raise ApiProblem(422, f"The records cannot be scored: {exc}") from None
