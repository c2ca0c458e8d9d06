"""The REST API: /api/v1/, bearer tokens, problem+json errors, OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

from . import errors
from .auth import read_auth
from .openapi import DocumentedAPI
from .routers import (
    alerts,
    compare,
    configs,
    datasets,
    detectors,
    me,
    mlflow,
    models,
    monitors,
    runs,
    sources,
    streams,
    verdicts,
)

api = DocumentedAPI(
    title="Pynomaly API",
    version="1.0.0",
    description=(
        "Anomaly detection over HTTP. Authenticate with `Authorization: Bearer pyn_…` (create a token in "
        "your workspace's settings); a token acts for one user in one workspace. Errors are "
        "application/problem+json (RFC 9457). Lists page with `limit` and `next_cursor`."
    ),
    auth=read_auth,
    urls_namespace="api-v1",
)
errors.install(api)

api.add_router("", me.router)
api.add_router("/datasets", datasets.router)
api.add_router("/detectors", detectors.router)
api.add_router("/detector-configs", configs.router)
api.add_router("/runs", runs.router)
api.add_router("/models", models.router)
api.add_router("/models", mlflow.router)
api.add_router("/monitors", monitors.router)
api.add_router("/alerts", alerts.alerts_router)
api.add_router("/monitors", alerts.rules_router)
api.add_router("/channels", alerts.channels_router)
api.add_router("/sources", sources.router)
api.add_router("/streams", streams.router)
api.add_router("", verdicts.router)
api.add_router(
    "", compare.router
)  # /runs/compare, /datasets/{id}/versions/{n}/leaderboard, …/bakeoff
