"""Stream workflows: the only code that writes stream definitions (create, change, pause, resume, delete).

The browser, the API and the CLI (through the API) all come here, so a stream is validated
the same way everywhere: its broker settings per kind (:mod:`apps.streams.config`, hosts
through the network guard), its model (a trained model of the same workspace, or an online
learner with its feature columns), its secrets (the broker password encrypted with
apps.common.secrets, the HTTP push token stored as its sha256 and shown once). Neither
secret reaches a message, a log line or the audit trail.
"""

from __future__ import annotations

import math
import secrets as pysecrets
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.audit.services import audit_record
from apps.common import secrets
from apps.common.netguard import HostRefused, resolve_allowed
from apps.common.tokens import token_hash
from apps.detectors.models import TrainedModel

from . import push
from .config import address, clean_config
from .groups import publish
from .models import Stream
from .selectors import stats

PUSH_TOKEN_PREFIX = "pys_"
MAX_BATCH = 100_000
MAX_COLUMNS = 1000
HST_PARAMS = {"n_trees": (1, 500), "height": (1, 30), "window_size": (10, 1_000_000)}
FIELDS = (
    "name", "kind", "config", "learner", "model", "columns", "learner_params", "threshold",
    "id_field", "time_field", "batch_size",
)  # fmt: skip


class StreamError(ValidationError):
    """A stream could not be saved; ``message_dict`` says why, field by field, for the user."""


@dataclass(frozen=True)
class Connection:
    """What the processor needs to connect: the settings and the decrypted password (never logged)."""

    config: dict
    password: str


def _values(data: dict[str, Any], instance: Stream | None) -> dict[str, Any]:
    current: dict[str, Any] = {}
    if instance is not None:
        current = {f: getattr(instance, f) for f in FIELDS if f != "model"}
        current["model"] = instance.model_id
        current["config"] = dict(instance.config)
    given = {k: data[k] for k in FIELDS if k in data and data[k] is not None}
    if "model_id" in data and data["model_id"] is not None:
        given["model"] = data["model_id"]
    if instance is not None and "config" in given and isinstance(given["config"], dict):
        # A partial config (the API's PATCH) changes the keys it names only.
        given["config"] = {**current.get("config", {}), **given["config"]}
    if "threshold" in data:  # None clears it (the model's own threshold)
        given["threshold"] = data["threshold"]
    return {**current, **given}


def _str(v: dict, key: str, errors: dict, limit: int) -> str:
    value = v.get(key) or ""
    if not isinstance(value, str):
        errors[key] = "Give a text value."
        return ""
    value = value.strip()
    if "\x00" in value:
        errors[key] = "Must not contain NUL characters."
    elif len(value) > limit:
        errors[key] = f"Too long ({limit} characters at most)."
    return value


def _clean_model(v: dict, *, tenant, errors: dict) -> None:
    learner = v.get("learner") or Stream.Learner.MODEL
    v["learner"] = learner
    columns = v.get("columns") or []
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if not isinstance(columns, list) or not all(isinstance(c, str) and c.strip() for c in columns):
        errors["columns"] = "Columns are a list of names."
        columns = []
    columns = list(dict.fromkeys(c.strip() for c in columns))
    if any(len(c) > 200 or "\x00" in c for c in columns):
        errors["columns"] = "A column name is at most 200 characters, without NUL."
    if len(columns) > MAX_COLUMNS:
        errors["columns"] = f"At most {MAX_COLUMNS} columns."
    if learner not in Stream.Learner.values:
        errors["learner"] = f"Choose one of: {', '.join(Stream.Learner.values)}."
    elif learner == Stream.Learner.MODEL:
        model_id = v.get("model")
        model = None
        if isinstance(model_id, TrainedModel):
            model_id = model_id.pk
        try:
            if model_id not in (None, ""):
                model = TrainedModel.objects.for_tenant(tenant).filter(pk=int(model_id)).first()
        except (TypeError, ValueError, OverflowError):
            model = None
        if model is None:
            errors["model"] = "Choose a trained model of this workspace (or an online learner)."
        v["model"] = model
        v["learner_params"] = {}
        # The model reads the columns it was trained on; the stream's own list stays empty.
        columns = []
    else:
        v["model"] = None
        if not columns:
            errors["columns"] = (
                "An online learner needs the feature columns to read from each record."
            )
        params = v.get("learner_params") or {}
        if not isinstance(params, dict):
            errors["learner_params"] = "Learner parameters are names and whole numbers."
            params = {}
        for key in set(params) - set(HST_PARAMS):
            errors["learner_params"] = f"Unknown parameter {key!r}; take {', '.join(HST_PARAMS)}."
        clean = {}
        for key, (low, high) in HST_PARAMS.items():
            if key in params and params[key] not in (None, ""):
                try:
                    number = int(params[key])
                except (TypeError, ValueError):
                    number = low - 1
                if not low <= number <= high:
                    errors["learner_params"] = f"{key} is a whole number from {low} to {high}."
                clean[key] = number
        v["learner_params"] = clean
    v["columns"] = columns


def _clean(values: dict[str, Any], *, tenant, instance: Stream | None) -> tuple[dict, str | None]:
    """Every field checked; one message per bad field (a StreamError dict). Returns (values, password in config)."""
    errors: dict[str, str] = {}
    v = dict(values)
    v["name"] = _str(v, "name", errors, 200)
    if not v["name"] and "name" not in errors:
        errors["name"] = "Give the stream a name."
    elif (
        Stream.objects.for_tenant(tenant)
        .filter(name=v["name"])
        .exclude(pk=getattr(instance, "pk", None))
        .exists()
    ):
        errors["name"] = "This workspace already has a stream with this name."
    kind = v.get("kind") or ""
    if kind not in Stream.Kind.values:
        errors["kind"] = f"Choose one of: {', '.join(Stream.Kind.values)}."
    elif instance is not None and kind != instance.kind:
        errors["kind"] = "A stream's kind cannot change; create a new stream instead."
    config, found_password, config_errors = clean_config(kind, v.get("config") or {})
    for key, message in config_errors.items():
        errors[key if key == "config" else f"config.{key}"] = message
    v["config"] = config
    _clean_model(v, tenant=tenant, errors=errors)
    threshold = v.get("threshold")
    if threshold in ("",):
        threshold = None
    if threshold is not None:
        try:
            threshold = float(threshold)
            if not math.isfinite(threshold):
                raise ValueError
        except (TypeError, ValueError):
            errors["threshold"] = "The threshold is a finite number (or empty: the model's own)."
            threshold = None
    v["threshold"] = threshold
    v["id_field"] = _str(v, "id_field", errors, 200)
    v["time_field"] = _str(v, "time_field", errors, 200)
    try:
        v["batch_size"] = int(v.get("batch_size") or 5000)
        if not 1 <= v["batch_size"] <= MAX_BATCH:
            raise ValueError
    except (TypeError, ValueError):
        errors["batch_size"] = f"The batch size is a whole number from 1 to {MAX_BATCH:,}."
    if errors:
        raise StreamError(errors)
    return v, found_password


def public(stream: Stream) -> dict[str, Any]:
    """What the audit trail may hold about a stream: never a credential."""
    return {
        "name": stream.name,
        "kind": stream.kind,
        "address": address(stream),
        "learner": stream.learner,
        "model": stream.model_id,
        "columns": len(stream.columns),
        "threshold": stream.threshold,
        "status": stream.status,
        "credentials_stored": bool(stream.secret_encrypted),
    }


def _new_push_token() -> str:
    return PUSH_TOKEN_PREFIX + pysecrets.token_urlsafe(32)


def _save(stream: Stream, *, action: str, user, request, details: dict) -> None:
    try:
        with transaction.atomic():
            stream.save()
            audit_record(
                action=action, actor=user, tenant=stream.tenant, target=stream, request=request,
                details=details,
            )  # fmt: skip
    except IntegrityError:
        raise StreamError({"name": "This workspace already has a stream with this name."}) from None


def stream_create(*, tenant, user, data: dict[str, Any], request=None) -> tuple[Stream, str | None]:
    """Validate and save a new stream; returns it and, for HTTP push, its token (shown once)."""
    values, found = _clean(_values(data, None), tenant=tenant, instance=None)
    stream = Stream(tenant=tenant, created_by=user, **{f: values[f] for f in FIELDS})
    password = data.get("password") or found or ""
    stream.secret_encrypted = secrets.encrypt(password) if stream.kind != Stream.Kind.HTTP else ""
    token = None
    if stream.kind == Stream.Kind.HTTP:
        token = _new_push_token()
        stream.push_token_hash = token_hash(token)
    _save(stream, action="stream.created", user=user, request=request, details=public(stream))
    return stream, token


def stream_update(*, stream: Stream, user, data: dict[str, Any], request=None) -> Stream:
    """Change a stream. A blank or absent password keeps the stored one; ``clear_password`` removes it."""
    values, found = _clean(_values(data, stream), tenant=stream.tenant, instance=stream)
    changed = sorted(
        f for f in FIELDS if (stream.model if f == "model" else getattr(stream, f)) != values[f]
    )
    for f in FIELDS:
        setattr(stream, f, values[f])
    password = data.get("password") or found
    if stream.kind == Stream.Kind.HTTP:
        pass
    elif password:
        stream.secret_encrypted = secrets.encrypt(password)
        changed.append("password")
    elif data.get("clear_password") and stream.secret_encrypted:
        stream.secret_encrypted = ""
        changed.append("password")
    details = {**public(stream), "changed": changed}
    _save(stream, action="stream.updated", user=user, request=request, details=details)
    return stream


def _set_status(stream: Stream, status: str, *, action: str, user, request) -> Stream:
    with transaction.atomic():
        locked = Stream.objects.select_for_update().get(pk=stream.pk)
        if locked.status != status:
            locked.status = status
            locked.save(update_fields=["status", "updated_at"])
            audit_record(
                action=action, actor=user, tenant=locked.tenant, target=locked, request=request,
                details={"name": locked.name},
            )  # fmt: skip
            # The live page shows the new status at once; the processor reads it from the row.
            transaction.on_commit(lambda: publish(locked.pk, {"stats": stats(locked)}))
    stream.status = locked.status
    return stream


def stream_pause(*, stream: Stream, user, request=None) -> Stream:
    """Stop reading: the processor leaves the stream's messages in the broker until resumed."""
    return _set_status(
        stream, Stream.Status.PAUSED, action="stream.paused", user=user, request=request
    )


def stream_resume(*, stream: Stream, user, request=None) -> Stream:
    return _set_status(
        stream, Stream.Status.ACTIVE, action="stream.resumed", user=user, request=request
    )


def stream_delete(*, stream: Stream, user, request=None) -> None:
    """Delete a stream with its anomalies, history, dead letters and rules (pushed records too)."""
    stream_id, kind = stream.pk, stream.kind
    with transaction.atomic():
        audit_record(
            action="stream.deleted", actor=user, tenant=stream.tenant, target=stream,
            request=request, details=public(stream),
        )  # fmt: skip
        stream.delete()
        if kind == Stream.Kind.HTTP:
            transaction.on_commit(lambda: push.drop(stream_id))


def stream_rotate_token(*, stream: Stream, user, request=None) -> str:
    """A new push token for an HTTP push stream (the old one stops working); shown once."""
    if stream.kind != Stream.Kind.HTTP:
        raise StreamError({"kind": "Only HTTP push streams have a push token."})
    token = _new_push_token()
    stream.push_token_hash = token_hash(token)
    with transaction.atomic():
        stream.save(update_fields=["push_token_hash", "updated_at"])
        audit_record(
            action="stream.push_token_rotated", actor=user, tenant=stream.tenant, target=stream,
            request=request, details={"name": stream.name},
        )  # fmt: skip
    return token


def streams_reencrypt(*, tenant=None) -> int:
    """Encrypt every stored broker password with the first key (after a key rotation); the count changed."""
    qs = Stream.objects.exclude(secret_encrypted="")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    count = 0
    with transaction.atomic():  # all or none: one unreadable credential changes nothing
        for stream in qs.select_for_update():
            token = secrets.reencrypt(stream.secret_encrypted)
            if token != stream.secret_encrypted:
                Stream.objects.filter(pk=stream.pk).update(secret_encrypted=token)
                count += 1
        audit_record(action="streams.reencrypted", details={"streams": count})
    return count


def stream_for_push_token(raw: str) -> Stream | None:
    """The HTTP push stream this token opens, or None (unknown token, or not a push stream)."""
    if not raw.startswith(PUSH_TOKEN_PREFIX) or len(raw) > 200:
        return None
    return (
        Stream.objects.select_related("tenant")
        .filter(kind=Stream.Kind.HTTP, push_token_hash=token_hash(raw))
        .first()
    )


def stream_connection(stream: Stream) -> Connection:
    """The settings and password for the processor, every host checked again by the network guard.

    Raises HostRefused when an address is refused now (a name that resolves elsewhere since).
    """
    config = dict(stream.config)
    hosts: list[tuple[str, int]] = []
    if stream.kind == Stream.Kind.MQTT:
        hosts.append((config["host"], int(config["port"])))
    elif stream.kind == Stream.Kind.KAFKA:
        for item in config["bootstrap_servers"].split(","):
            host, _, port = item.rpartition(":")
            hosts.append((host.strip("[]"), int(port)))
    elif stream.kind == Stream.Kind.NATS:
        for item in config["servers"].split(","):
            host, _, port = item.split("://", 1)[-1].rpartition(":")
            hosts.append((host.strip("[]"), int(port)))
    elif stream.kind == Stream.Kind.REDIS:
        from urllib.parse import urlsplit

        parts = urlsplit(config["url"])
        hosts.append((parts.hostname or "", parts.port or 6379))
    for host, port in hosts:
        resolve_allowed(host, port)
    return Connection(config=config, password=secrets.decrypt(stream.secret_encrypted))


__all__ = [
    "Connection",
    "HostRefused",
    "StreamError",
    "public",
    "stream_connection",
    "stream_create",
    "stream_delete",
    "stream_for_push_token",
    "stream_pause",
    "stream_resume",
    "stream_rotate_token",
    "stream_update",
]
