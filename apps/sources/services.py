"""Source workflows: the only code that writes sources, tests them, previews and pulls them.

The browser, the API, the CLI (through the API), the Celery task and the monitors all come
here, so a source is validated, checked against the network guard, read and turned into a
dataset version the same way everywhere. Credentials are decrypted only to connect
(apps.common.secrets) and never reach a message, a log line or the audit trail.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record
from apps.common import secrets
from apps.common.netguard import HostRefused, resolve_allowed
from apps.datasets.models import Dataset, DatasetVersion, Upload
from apps.datasets.services import dataset_create_from_path
from pynomaly import sql
from pynomaly.data import write_parquet
from pynomaly.errors import DataError

from .models import Source

log = logging.getLogger(__name__)

MAX_TIMEOUT_SECONDS = 3600
PREVIEW_ROWS = 20
# A pull that has not ended after this long is taken to have died (its worker was killed).
STALE_PULL = timedelta(hours=1)

# The fields a create/update accepts (besides url, password and clear_password).
FIELDS = (
    "name", "kind", "host", "port", "database", "username", "options", "query", "table",
    "columns", "watermark_column", "statement_timeout_seconds", "row_cap", "columns_cap",
)  # fmt: skip
_DEFAULTS: dict[str, Any] = {
    "name": "", "kind": "", "host": "", "port": None, "database": "", "username": "",
    "options": {}, "query": "", "table": "", "columns": [], "watermark_column": "",
    "statement_timeout_seconds": 30, "row_cap": 1_000_000, "columns_cap": 500,
}  # fmt: skip
# Changing one of these starts the incremental read again from the beginning.
_READ_FIELDS = {"kind", "host", "port", "database", "query", "table", "watermark_column"}


class SourceError(ValidationError):
    """A source could not be saved, reached or read; ``message`` says why, for the user."""


class SourceInUse(SourceError):
    """The source cannot be deleted: a monitor reads it."""


@dataclass(frozen=True)
class Probe:
    server: str
    columns: list[str]

    @property
    def message(self) -> str:
        cols = f"; the read gives {len(self.columns)} columns" if self.columns else ""
        return f"Connected to {self.server}{cols}."


@dataclass(frozen=True)
class Preview:
    server: str
    columns: list[str]
    rows: list[list[Any]]


# ------------------------------------------------------------------ validation


def parse_url(url: str) -> dict[str, Any]:
    """Fields from ``postgresql://user:pass@host:5432/db?sslmode=require``, ``mysql://…``, ``sqlite:///file.db``."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise SourceError({"url": f"The URL is not valid ({exc})."}) from None
    scheme = parts.scheme.lower().split("+", 1)[0]
    kind = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql",
            "mariadb": "mysql", "sqlite": "sqlite"}.get(scheme)  # fmt: skip
    if kind is None:
        raise SourceError(
            {"url": "The URL must start with postgresql://, mysql://, mariadb:// or sqlite:///."}
        )
    if kind == "sqlite":
        return {"kind": kind, "database": unquote(parts.path.lstrip("/")), "host": "", "port": None}
    fields: dict[str, Any] = {
        "kind": kind,
        "host": parts.hostname or "",
        "port": port or sql.DEFAULT_PORTS[kind],
        "database": unquote(parts.path.lstrip("/")),
        "username": unquote(parts.username or ""),
    }
    if parts.password:
        fields["password"] = unquote(parts.password)
    options = dict(parse_qsl(parts.query))
    if options:
        fields["options"] = options
    return fields


def _int(value: Any, field: str, errors: dict[str, str], low: int, high: int, label: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[field] = f"{label} must be a whole number."
        return 0
    if not low <= number <= high:
        errors[field] = f"{label} must be between {low:,} and {high:,}."
    return number


def _clean(values: dict[str, Any], *, tenant, instance: Source | None) -> dict[str, Any]:
    """Every field checked, with one message per bad field (a ValidationError dict)."""
    errors: dict[str, str] = {}
    v = {**_DEFAULTS, **{k: x for k, x in values.items() if x is not None}}
    for key, value in list(v.items()):
        if isinstance(value, str):
            if "\x00" in value:
                errors[key] = "must not contain NUL characters"
            v[key] = value if key in ("password", "query") else value.strip()
    v["name"] = v.get("name") or ""
    if not v["name"]:
        errors["name"] = "Give the source a name."
    elif len(v["name"]) > 200:
        errors["name"] = "The name is too long (200 characters at most)."
    elif (
        Source.objects.for_tenant(tenant)
        .filter(name=v["name"])
        .exclude(pk=getattr(instance, "pk", None))
        .exists()
    ):
        errors["name"] = "This workspace already has a source with this name."
    kind = v.get("kind") or ""
    if kind not in Source.Kind.values:
        errors["kind"] = f"Choose one of: {', '.join(Source.Kind.values)}."
    if kind == Source.Kind.SQLITE:
        v["host"], v["port"], v["username"] = "", None, ""
        if not v.get("database"):
            errors["database"] = "Name the SQLite file (inside the server's source directory)."
    elif kind in sql.DEFAULT_PORTS:
        if not v.get("host"):
            errors["host"] = "Give the database server's host name or address."
        elif len(v["host"]) > 255:
            errors["host"] = "The host name is too long."
        v["port"] = _int(
            v.get("port") or sql.DEFAULT_PORTS[kind], "port", errors, 1, 65535, "The port"
        )
        if not v.get("database"):
            errors["database"] = "Name the database to read."
    for key in ("database", "username", "table", "watermark_column"):
        if len(v.get(key) or "") > 255:
            errors[key] = "Too long (255 characters at most)."
    options = v.get("options") or {}
    if not isinstance(options, dict) or not all(
        isinstance(k, str) and isinstance(x, str) for k, x in options.items()
    ):
        errors["options"] = "Options are names and text values."
        options = {}
    unknown = set(options) - {"sslmode"}
    if unknown:
        errors["options"] = f"Unknown option {sorted(unknown)[0]!r}; sources accept sslmode."
    v["options"] = options
    columns = v.get("columns") or []
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
        errors["columns"] = "Columns are a list of names."
        columns = []
    v["columns"] = columns
    query, table = (v.get("query") or "").strip(), v.get("table") or ""
    v["query"] = query
    if query and table:
        errors["query"] = "Give a query or a table, not both."
    elif not query and not table:
        errors["query"] = "Give a read-only SELECT query, or a table (and columns) to read."
    elif query:
        try:
            v["query"] = sql.check_select(query)
        except sql.SourceFailure as exc:
            errors["query"] = str(exc)
        if columns:
            errors["columns"] = "Columns go with a table; a query names its own."
    try:
        if table:
            sql.quote_identifier(table, kind or "postgresql")
    except sql.SourceFailure as exc:
        errors["table"] = str(exc)
    v["statement_timeout_seconds"] = _int(
        v["statement_timeout_seconds"], "statement_timeout_seconds", errors,
        1, MAX_TIMEOUT_SECONDS, "The statement timeout",
    )  # fmt: skip
    v["row_cap"] = _int(
        v["row_cap"],
        "row_cap",
        errors,
        1,
        settings.PYNOMALY_MAX_ROWS,
        "The row cap",
    )
    v["columns_cap"] = _int(
        v["columns_cap"], "columns_cap", errors, 1, settings.PYNOMALY_MAX_COLUMNS,
        "The columns cap",
    )  # fmt: skip
    if errors:
        raise SourceError(errors)
    return v


def _values(data: dict[str, Any], instance: Source | None) -> dict[str, Any]:
    """The submitted fields over the instance's current ones; a URL fills the connection fields."""
    current = {f: getattr(instance, f) for f in FIELDS} if instance is not None else {}
    given = {k: data[k] for k in FIELDS if k in data and data[k] is not None}
    values = {**current, **given}
    url = (data.get("url") or "").strip()
    if url:
        values.update(parse_url(url))
    if "password" in data and data["password"] is not None:
        values["password"] = data["password"]
    return values


# ------------------------------------------------------------------ writers


def _public(source: Source) -> dict[str, Any]:
    """What the audit trail may hold about a source: never a credential."""
    return {
        "name": source.name,
        "kind": source.kind,
        "host": source.host,
        "port": source.port,
        "database": source.database,
        "username": source.username,
        "table": source.table,
        "incremental": source.incremental,
    }


def source_create(*, tenant, user, data: dict[str, Any], request=None) -> Source:
    """Validate and save a new source (the password encrypted); raises SourceError with field errors."""
    values = _clean(_values(data, None), tenant=tenant, instance=None)
    password = values.pop("password", "") or ""
    source = Source(tenant=tenant, created_by=user, **{k: values[k] for k in FIELDS})
    source.password_encrypted = secrets.encrypt(password)
    try:
        with transaction.atomic():
            source.save()
            audit_record(
                action="source.created", actor=user, tenant=tenant, target=source,
                request=request, details=_public(source),
            )  # fmt: skip
    except IntegrityError:
        raise SourceError({"name": "This workspace already has a source with this name."}) from None
    return source


def source_update(*, source: Source, user, data: dict[str, Any], request=None) -> Source:
    """Change a source. A blank or absent password keeps the stored one; ``clear_password`` removes it."""
    values = _clean(_values(data, source), tenant=source.tenant, instance=source)
    password = values.pop("password", "") or ""
    changed = sorted(f for f in FIELDS if getattr(source, f) != values[f])
    for f in FIELDS:
        setattr(source, f, values[f])
    if password:
        source.password_encrypted = secrets.encrypt(password)
        changed.append("password")
    elif data.get("clear_password") and source.password_encrypted:
        source.password_encrypted = ""
        changed.append("password")
    reset = bool(_READ_FIELDS & set(changed)) or bool(data.get("reset_watermark"))
    if reset and source.watermark_value:
        source.watermark_value = source.watermark_type = ""
        changed.append("watermark_reset")
    try:
        with transaction.atomic():
            source.save()
            audit_record(
                action="source.updated", actor=user, tenant=source.tenant, target=source,
                request=request, details={**_public(source), "changed": changed},
            )  # fmt: skip
    except IntegrityError:
        raise SourceError({"name": "This workspace already has a source with this name."}) from None
    return source


def source_delete(*, source: Source, user, request=None) -> None:
    """Delete a source (its dataset and versions stay); refused while a monitor reads it."""
    try:
        with transaction.atomic():
            audit_record(
                action="source.deleted", actor=user, tenant=source.tenant, target=source,
                request=request, details=_public(source),
            )  # fmt: skip
            source.delete()
    except ProtectedError as exc:
        names = sorted({str(o) for o in exc.protected_objects})[:3]
        raise SourceInUse(
            f"The source is read by monitor {', '.join(names)}; delete or change the monitor first.",
            code="in_use",
        ) from None


def sources_reencrypt(*, tenant=None) -> int:
    """Encrypt every stored password with the first key (after a key rotation); the count changed."""
    qs = Source.objects.exclude(password_encrypted="")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    count = 0
    with transaction.atomic():  # all or none: one unreadable credential changes nothing
        for source in qs.select_for_update():
            token = secrets.reencrypt(source.password_encrypted)
            if token != source.password_encrypted:
                Source.objects.filter(pk=source.pk).update(password_encrypted=token)
                count += 1
        audit_record(action="sources.reencrypted", details={"sources": count})
    return count


# ------------------------------------------------------------------ reading


def _target(source: Source) -> sql.Target:
    """Where to connect: the host checked by the network guard, the password decrypted."""
    try:
        if source.kind == Source.Kind.SQLITE:
            return sql.Target(
                kind="sqlite", database=source.database,
                sqlite_dir=str(settings.PYNOMALY_SOURCE_SQLITE_DIR),
            )  # fmt: skip
        port = source.port or sql.DEFAULT_PORTS[source.kind]
        return sql.Target(
            kind=source.kind,
            host=source.host,
            hostaddr=resolve_allowed(source.host, port),
            port=port,
            database=source.database,
            username=source.username,
            password=secrets.decrypt(source.password_encrypted),
            options=dict(source.options or {}),
        )
    except HostRefused as exc:
        raise SourceError(exc.message, code="host_refused") from None
    except secrets.SecretUnreadable as exc:
        raise SourceError(exc.message, code="secret_unreadable") from None


def _read(source: Source, *, incremental: bool = True) -> sql.Read:
    watermark = None
    if incremental and source.watermark_column and source.watermark_value:
        watermark = sql.Watermark(source.watermark_type or "text", source.watermark_value)
    return sql.Read(
        query=source.query,
        table=source.table,
        columns=tuple(source.columns or ()),
        watermark_column=source.watermark_column if incremental else "",
        watermark=watermark,
    )


def _limits(source: Source) -> sql.Limits:
    return sql.Limits(
        statement_timeout_seconds=source.statement_timeout_seconds,
        row_cap=source.row_cap,
        columns_cap=source.columns_cap,
    )


def _engine_error(exc: DataError) -> SourceError:
    return SourceError(str(exc), code=getattr(exc, "reason", "failed"))


def source_test(*, source: Source, user=None, request=None) -> Probe:
    """Connect and check the read (LIMIT 0); raises SourceError with a clear message."""
    try:
        server, columns = sql.probe(
            _target(source), _read(source, incremental=False), _limits(source)
        )
    except DataError as exc:
        error = _engine_error(exc)
        audit_record(
            action="source.test_failed", actor=user, tenant=source.tenant, target=source,
            request=request, details={"message": error.message},
        )  # fmt: skip
        raise error from None
    except SourceError as error:
        audit_record(
            action="source.test_failed", actor=user, tenant=source.tenant, target=source,
            request=request, details={"message": error.message},
        )  # fmt: skip
        raise
    if source.watermark_column and columns and source.watermark_column not in columns:
        raise SourceError(
            f"Connected to {server}, but the watermark column {source.watermark_column!r} is not "
            f"among the columns read ({', '.join(columns[:20])}).",
            code="watermark",
        )
    probe = Probe(server=server, columns=columns)
    audit_record(
        action="source.tested", actor=user, tenant=source.tenant, target=source,
        request=request, details={"server": server, "columns": len(columns)},
    )  # fmt: skip
    return probe


def source_preview(*, source: Source, user=None, request=None, rows: int = PREVIEW_ROWS) -> Preview:
    """The first rows the source gives (ignoring the watermark), as text for a table."""
    try:
        got = sql.preview(_target(source), _read(source, incremental=False), _limits(source), rows)
    except DataError as exc:
        raise _engine_error(exc) from None
    frame = got.frame
    table = [
        [None if _missing(x) else str(x) for x in row] for row in frame.itertuples(index=False)
    ]
    audit_record(
        action="source.previewed", actor=user, tenant=source.tenant, target=source,
        request=request, details={"rows": len(table)},
    )  # fmt: skip
    return Preview(server=got.server, columns=[str(c) for c in frame.columns], rows=table)


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(value != value)  # NaN / NaT
    except (TypeError, ValueError):
        return False


def _claim(source: Source) -> bool:
    now = timezone.now()
    return bool(
        Source.objects.filter(pk=source.pk)
        .filter(Q(pulling_since__isnull=True) | Q(pulling_since__lt=now - STALE_PULL))
        .update(pulling_since=now)
    )


def _dataset_name(source: Source) -> str:
    """The name of the dataset a source's first pull creates: the source's, made unique."""
    if source.dataset_id is not None:
        return Dataset.objects.get(pk=source.dataset_id).name
    base = source.name[:180]
    taken = set(
        Dataset.objects.for_tenant(source.tenant)
        .filter(name__startswith=base)
        .values_list("name", flat=True)
    )
    for candidate in [base, f"{base} (source)", *(f"{base} (source {i})" for i in range(2, 100))]:
        if candidate not in taken:
            return candidate
    return f"{base} (source {source.pk})"


def _finish(source: Source, **fields: Any) -> None:
    fields.setdefault("pulling_since", None)
    Source.objects.filter(pk=source.pk).update(**fields, updated_at=timezone.now())
    for key, value in fields.items():
        setattr(source, key, value)


def source_pull(*, source: Source, user=None, request=None) -> DatasetVersion | None:
    """Read the rows past the watermark into a new immutable version of ``source.dataset``.

    The version is written (hashed, profiled, Parquet) through the same ingest as an upload;
    the watermark moves only after it exists. Returns None when there is nothing new (no rows
    past the watermark, or the same rows as the latest version). Raises SourceError on a
    refused host, a failed connection or query, or a limit; ``last_error`` records it.
    """
    if not _claim(source):
        raise SourceError("A pull of this source is already running; try again when it ends.",
                          code="busy")  # fmt: skip
    started = timezone.now()
    try:
        try:
            fetched = sql.fetch(_target(source), _read(source), _limits(source))
        except DataError as exc:
            raise _engine_error(exc) from None
        rows = len(fetched.frame)
        if rows == 0:
            _finish(source, last_pull_at=started, last_error="", last_pull_rows=0)
            return None
        version = _write_version(source, fetched, user=user, started=started)
        wm = fetched.watermark
        with transaction.atomic():
            _finish(
                source,
                last_pull_at=started,
                last_error="",
                last_pull_rows=rows,
                watermark_value=wm.text if wm and source.watermark_column else "",
                watermark_type=wm.type if wm and source.watermark_column else "",
            )
            audit_record(
                action="source.pulled", actor=user, tenant=source.tenant, target=source,
                request=request,
                details={
                    "rows": rows,
                    "dataset": source.dataset_id,
                    "version": version.number if version else None,
                    "watermark": source.watermark_value,
                },
            )  # fmt: skip
        return version
    except SourceError as error:
        _finish(source, last_pull_at=started, last_error=error.message)
        audit_record(
            action="source.pull_failed", actor=user, tenant=source.tenant, target=source,
            request=request, details={"message": error.message},
        )  # fmt: skip
        raise
    except BaseException:
        log.exception("pull of source %s failed", source.pk)
        _finish(
            source,
            last_pull_at=started,
            last_error="The pull failed unexpectedly; it has been logged.",
        )
        raise


def _write_version(source: Source, fetched: sql.Fetched, *, user, started) -> DatasetVersion | None:
    name = _dataset_name(source)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    filename = f"{slugify(source.name)[:80] or 'source'}-{stamp}.parquet"
    with tempfile.TemporaryDirectory(prefix="pynomaly-pull-") as tmp:
        path = Path(tmp) / filename
        write_parquet(fetched.frame, path)
        upload = dataset_create_from_path(
            tenant=source.tenant,
            user=user or source.created_by,
            path=path,
            name=name,
            ingest_now=True,
        )
    if source.dataset_id != upload.dataset_id:
        Source.objects.filter(pk=source.pk).update(dataset_id=upload.dataset_id)
        source.dataset_id = upload.dataset_id
    if upload.status == Upload.Status.FAILED:
        raise SourceError(f"The rows read could not be stored as a version: {upload.error}",
                          code="ingest")  # fmt: skip
    if upload.status == Upload.Status.DUPLICATE:
        return None
    return upload.version


def source_pull_later(*, source: Source, user=None, request=None) -> None:
    """Queue a pull (the Celery task ``sources.pull``) once the caller's transaction commits."""
    from .tasks import pull

    audit_record(
        action="source.pull_queued", actor=user, tenant=source.tenant, target=source,
        request=request, details={"name": source.name},
    )  # fmt: skip
    user_id = getattr(user, "pk", None)
    transaction.on_commit(lambda: pull.delay(source.pk, user_id))
