"""Python SDK for a Pynomaly server's REST API (``/api/v1``).

>>> from pynomaly.client import Client
>>> api = Client("https://pynomaly.example.com", "pyn_...")
>>> ds = api.datasets.upload("payments.parquet").wait()
>>> run = api.runs.start(dataset_id=ds.id, detector_config_id=3).wait()
>>> frame = api.runs.results(run.id)               # every scored row, as a DataFrame
>>> api.models.score(run.trained_model_id, [{"amount": 12.5, "country": "FR"}])

Every call raises an :class:`ApiError` subclass carrying the server's ``detail`` when
the server refuses; long jobs raise :class:`RunFailed` / :class:`IngestFailed` (both
:class:`JobFailed`). This package needs ``requests`` and ``tqdm`` only: no Django, no
detector libraries (pandas is imported when a DataFrame is asked for).

Inside: :mod:`~pynomaly.client.session` (the :class:`Client` and its transport),
:mod:`~pynomaly.client.endpoints` (``client.datasets``, ``client.runs``, ...),
:mod:`~pynomaly.client.objects` (what they return) and :mod:`~pynomaly.client.errors`.
"""

from .comparisons import Comparison, Leaderboard
from .errors import (
    ApiError,
    AuthError,
    ConnectionFailed,
    IngestFailed,
    JobFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    RunFailed,
    ServerError,
    ValidationError,
)
from .monitors import Monitor, MonitorExecution
from .objects import (
    Dataset,
    DatasetVersion,
    Detector,
    DetectorConfig,
    Me,
    MlflowState,
    Model,
    Run,
    ScoreResult,
    Tenant,
)
from .session import Client
from .sources import Source, SourcePreview, SourceTest
from .streams import Stream, StreamAnomaly
from .verdicts import Verdict

__all__ = [
    "ApiError", "AuthError", "PermissionDenied", "NotFound", "ValidationError", "RateLimited",
    "ServerError", "ConnectionFailed", "JobFailed", "RunFailed", "IngestFailed", "Client", "Me",
    "Tenant", "Dataset", "DatasetVersion", "Detector", "DetectorConfig", "Run", "Model",
    "ScoreResult", "Monitor", "MonitorExecution", "Verdict", "Comparison", "Leaderboard",
]  # fmt: skip
__all__ += ["Source", "SourcePreview", "SourceTest", "Stream", "StreamAnomaly", "MlflowState"]
