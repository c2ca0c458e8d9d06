"""Request examples for the OpenAPI document, written by hand: what a caller would really send.

Keyed by the body's component schema (``RunIn``), or by ``"METHOD path"`` for bodies without
one (uploads, scoring, stream pushes). Each is checked against its schema by
``tests/web/api/test_openapi_documented.py``; :mod:`apps.api.openapi` puts them on the operations.
Response examples are built from the response schemas (``openapi.example_for``).
"""

from __future__ import annotations

from typing import Any

_PIPELINE = {
    "detectors": [{"key": "iforest", "params": {"n_estimators": 200}}],
    "combine": "average",
    "threshold": {"kind": "contamination", "value": 0.02},
}

BY_SCHEMA: dict[str, Any] = {
    "ConfigIn": {
        "name": "Isolation Forest, 2 % contamination",
        "description": "A fast, general-purpose start.",
        "pipeline": _PIPELINE,
    },
    "ConfigPatch": {"description": "Tuned for the payments data: more trees."},
    "RunIn": {"dataset_id": 12, "detector_config_id": 3, "label_column": "is_fraud"},
    "MonitorIn": {
        "name": "Payments, hourly",
        "dataset_id": 12,
        "detector_config_id": 3,
        "schedule": "interval",
        "interval_seconds": 3600,
        "retrain": "manual",
    },
    "MonitorPatch": {"interval_seconds": 1800},
    "SnoozeIn": {"hours": 4},
    "RuleIn": {
        "name": "More than 20 anomalies",
        "min_anomalies": 20,
        "on_failure": True,
        "match": "any",
        "cooldown_seconds": 3600,
        "channel_ids": [2],
    },
    "RulePatch": {"enabled": False},
    "ChannelIn": {
        "name": "Ops webhook",
        "kind": "webhook",
        "url": "https://hooks.example.com/pynomaly",
        "format": "json",
    },
    "ChannelPatch": {"recipients": ["oncall@example.com"]},
    "SourceIn": {
        "name": "Orders (PostgreSQL)",
        "kind": "postgresql",
        "host": "db.example.com",
        "port": 5432,
        "database": "shop",
        "username": "reader",
        "password": "s3cret",
        "table": "orders",
        "watermark_column": "id",
    },
    "StreamIn": {
        "name": "Plant sensors",
        "kind": "redis",
        "config": {"key": "sensors", "group": "pynomaly"},
        "learner": "hst",
        "columns": ["temperature", "pressure"],
        "time_field": "ts",
    },
    "VerdictIn": {"row": 4711, "verdict": "anomaly", "note": "Confirmed fraud by the bank."},
    "BakeoffIn": {"detectors": ["iforest", "ecod", "hbos"], "label_column": "is_fraud"},
}

BY_OPERATION: dict[str, dict[str, Any]] = {
    "POST /api/v1/datasets": {
        "multipart/form-data": {"file": "payments.csv", "name": "Card payments"},
    },
    "PUT /api/v1/datasets/stream": {
        "application/octet-stream": "timestamp,amount,merchant\n2026-01-05T10:00:00Z,12.50,fuel\n",
    },
    "POST /api/v1/models/{model_id}/score": {
        "application/json": {
            "records": [
                {"amount": 12.5, "merchant_category": "fuel"},
                {"amount": 9800.0, "merchant_category": "jewellery"},
            ]
        },
    },
    "POST /api/v1/streams/{stream_id}/events": {
        "application/json": [{"ts": "2026-01-05T10:00:00Z", "temperature": 21.4}],
        "application/x-ndjson": '{"ts": "2026-01-05T10:00:00Z", "temperature": 21.4}\n',
    },
}
