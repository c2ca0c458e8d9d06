"""MLflow: a trained model's sync state (logged / failed and why / off)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from apps.detectors.models import TrainedModel
from apps.mlflow_sync import services
from apps.mlflow_sync.models import MlflowSync

from ..auth import write_auth
from ..errors import PROBLEM, ApiProblem, field_error
from .common import scoped_or_404

router = Router(tags=["models"])


class MlflowOut(Schema):
    status: str
    attempts: int
    error: str
    mlflow_run_id: str
    registered_name: str
    registered_version: str


def _sync(request: HttpRequest, model_id: int) -> MlflowSync | None:
    model = scoped_or_404(TrainedModel.objects.all(), request, model_id, "model")
    return MlflowSync.objects.filter(tenant_id=model.tenant_id, run_id=model.run_id).first()


def _out(sync: MlflowSync | None) -> dict:
    if sync is None:  # MLflow off, or the run finished before it was turned on
        return dict.fromkeys(MlflowOut.model_fields, "") | {"status": "off", "attempts": 0}
    return {
        f: getattr(sync, f)
        for f in ("status", "attempts", "error", "mlflow_run_id", "registered_name")
    } | {"registered_version": sync.registered_version}


@router.get("/{int:model_id}/mlflow", response=MlflowOut, summary="The model's MLflow state")
def mlflow_state(request: HttpRequest, model_id: int):
    return _out(_sync(request, model_id))


class RegisterIn(Schema):
    name: str = Field(
        ...,
        min_length=1,
        max_length=255,
        description="The registered model's name; a new version is added when it exists.",
        examples=["fraud-detector"],
    )


_UNAVAILABLE = {
    "responses": {
        503: {
            "description": "MLflow could not be reached or refused; nothing was registered.",
            "content": {
                PROBLEM: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": {
                        "type": "about:blank",
                        "title": "Service Unavailable",
                        "status": 503,
                        "detail": "MLflow did not register the model: API request to "
                        "http://mlflow.internal:5000 failed: connection refused",
                    },
                }
            },
        }
    }
}


@router.post(
    "/{int:model_id}/mlflow/register",
    auth=write_auth,
    response=MlflowOut,
    summary="Register the model in MLflow's model registry",
    description="Adds the logged model (its run's `model/` folder: the file as Pynomaly saved "
    "it, with its checksum) as a new version of the registered model `name`, created when it "
    "does not exist. 409 while the run is not logged to MLflow (off, pending or failed); 503 "
    "when MLflow cannot be reached.",
    openapi_extra=_UNAVAILABLE,
)
def mlflow_register(request: HttpRequest, model_id: int, body: RegisterIn):
    sync = _sync(request, model_id)
    if sync is None:
        raise ApiProblem(
            409,
            "This model's run is not logged to MLflow (MLflow is off, or the run finished "
            "before it was turned on).",
            title="Not logged to MLflow",
        )
    try:
        name = services.clean_registered_name(body.name)
    except services.RegisterRefused as exc:
        raise field_error(["body", "name"], str(exc)) from None
    try:
        services.register(sync, name=name, user=request.user, request=request)
    except services.RegisterRefused as exc:
        raise ApiProblem(409, str(exc), title="Not logged to MLflow") from None
    except services.MlflowUnavailable as exc:
        raise ApiProblem(503, f"MLflow did not register the model: {exc}") from None
    return _out(sync)
