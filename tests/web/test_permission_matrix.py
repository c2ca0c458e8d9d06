"""The permission matrix: every URL pattern × every method it accepts × every kind of caller.

The URL configuration is walked (includes expanded), each pattern's methods are found by
calling it as the owner (405 = not accepted), its path parameters are filled with tenant A's
objects, and it is called as each actor. ``MATRIX`` below is the one table of what must happen;
a pattern missing from it fails ``test_every_url_pattern_is_in_the_matrix``, so every new page
or endpoint joins the matrix the day it is added. Each call runs in a savepoint that is rolled
back, so a deletion or an ownership transfer cannot change what the next call sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.audit.models import AuditEvent
from tests.conftest import _user

# ---------------------------------------------------------------- the table
ACTORS = ("anon", "viewer", "analyst", "admin", "owner", "stranger", "shared")
OK, LOGIN = (
    "ok",
    "login",
)  # ok: 2xx or a 3xx that is not the sign-in page; login: 302 to /accounts/login/


def _r(anon, viewer, analyst, admin, owner, stranger, shared) -> dict[str, object]:
    return dict(zip(ACTORS, (anon, viewer, analyst, admin, owner, stranger, shared), strict=True))


# What each actor gets. stranger = charlie, owner of tenant B; shared = sam, who owns a personal
# workspace and holds a share of run A. API actors use a write-scope token of their own workspace,
# so for the API "stranger" and "shared" act in *their* workspace and A's ids are foreign to them.
RULES: dict[str, dict[str, object]] = {
    "public": _r(OK, OK, OK, OK, OK, OK, OK),
    "auth": _r(LOGIN, OK, OK, OK, OK, OK, OK),  # any signed-in user, about themselves
    "read": _r(LOGIN, OK, OK, OK, OK, 404, 404),
    "shared-read": _r(
        LOGIN, OK, OK, OK, OK, 404, OK
    ),  # the read-only results views of the shared run
    "create": _r(LOGIN, 403, OK, OK, OK, 404, 404),
    "manage": _r(LOGIN, 403, 403, OK, OK, 404, 404),
    "own": _r(LOGIN, 403, 403, 403, OK, 404, 404),
    "staff": _r(LOGIN, 403, 403, 403, 403, 403, 403),  # no actor here is staff
    # The invitation link works without a workspace; accepting needs the invited address,
    # which none of the signed-in actors has (403 with the reason), while a visitor is asked to sign in.
    "invite-link": _r(OK, OK, OK, OK, OK, OK, OK),
    "invite-accept": _r(OK, 403, 403, 403, 403, 403, 403),
    "api-public": _r(OK, OK, OK, OK, OK, OK, OK),
    "api-nothing": _r(404, 404, 404, 404, 404, 404, 404),  # ninja's root: lists nothing to anyone
    "api-any-token": _r(401, OK, OK, OK, OK, OK, OK),  # answers from the token's own workspace
    "api-read": _r(401, OK, OK, OK, OK, 404, 404),
    "api-create-own": _r(401, 403, OK, OK, OK, OK, OK),  # creates in the token's own workspace
    "api-write": _r(
        401, 403, OK, OK, OK, 404, 404
    ),  # changes one of A's objects (or starts from them)
    "api-manage": _r(401, 403, 403, OK, OK, 404, 404),  # admins only, on one of A's objects
    "api-manage-own": _r(401, 403, 403, OK, OK, OK, OK),  # admins only, in the token's workspace
    # Registering in MLflow: the world's model is not logged to MLflow, so the roles that may
    # register get the state's 409 (after the permission checks); the success is tested in
    # tests/web/mlflow_sync/test_register.py against a real MLflow store.
    "create-not-logged": _r(LOGIN, 403, 409, 409, 409, 404, 404),
    "api-write-not-logged": _r(401, 403, 409, 409, 409, 404, 404),
    # HTTP push takes a stream's push token, never a user's API token (tested in tests/web/streams)
    "api-push": _r(401, 401, 401, 401, 401, 401, 401),
}

# pattern name → rule, or {method: rule} where methods differ.
MATRIX: dict[str, str | dict[str, str]] = {
    # project
    "home": "auth",
    "healthz": "public",
    "metrics": "api-nothing",  # 404 unless METRICS_TOKEN or an allowed address (tests/web/test_metrics.py)
    "readyz": "public",  # 200 or 503 (no Celery worker here): either way no secrets and no sign-in
    "manifest": "public",
    "service_worker": "public",
    "favicon": "public",
    "offline": "public",
    "docs": "public",  # the documentation site (a tiny stand-in build, see world)
    "docs_file": "public",
    "shared_with_me": "auth",
    "tenant_create": "auth",
    "invitation_accept": {"GET": "invite-link", "POST": "invite-accept"},
    "audit:tenant": "manage",
    "audit:staff": "staff",
    # tenants
    "tenants:dashboard": "read",
    # the overview's layout is each member's own (viewers arrange theirs too); demo data creates
    "dashboard:widget_add": "read",
    "dashboard:widget_remove": "read",
    "dashboard:widget_move": "read",
    "dashboard:layout": "read",
    "dashboard:layout_reset": "read",
    "dashboard:demo_data": "create",
    "tenants:settings": "read",
    "tenants:rename": "manage",
    "tenants:transfer": "own",
    "tenants:delete": "own",
    "tenants:member_role": "manage",
    "tenants:member_remove": "manage",
    "tenants:invite": "manage",
    "tenants:invitation_revoke": "manage",
    "tenants:sso": "manage",
    "mlflow_sync:setting": "manage",  # the workspace's own MLflow server (admins only)
    # datasets
    "datasets:list": "read",
    "datasets:upload": "create",
    "datasets:detail": "read",
    "datasets:status": "read",
    "datasets:delete": "create",
    "datasets:version": "read",
    "datasets:preview": "read",
    "datasets:download": "read",
    # detectors
    "detectors:catalogue": "read",
    "detectors:detail": "read",
    "detectors:configs": "read",
    "detectors:config_create": "create",
    "detectors:config_params": "create",
    "detectors:config_detail": "read",
    "detectors:model_onnx": "read",
    "mlflow_sync:register": {
        "GET": "create",
        "POST": "create-not-logged",
    },  # any member downloads the .onnx, like the results
    "detectors:config_edit": "create",
    # runs
    "runs:list": "read",
    "runs:start": "create",
    "runs:detail": "read",
    "runs:cancel": "create",
    "runs:rerun": "create",
    "runs:results": "shared-read",
    "runs:results_table": "shared-read",
    "runs:figure": "shared-read",  # a results chart's JSON (apps.runs.figures)
    "runs:row": "shared-read",
    "runs:threshold_preview": "shared-read",
    "runs:threshold_save": "create",
    "runs:download_csv": "shared-read",
    "runs:download_parquet": "shared-read",
    "runs:compare": "read",
    "runs:compare_figure": "read",  # the comparison's scatter (JSON)
    "runs:bakeoff": "create",
    "runs:leaderboard": "read",
    "runs:share": "create",
    "runs:share_revoke": "create",
    # monitors
    "monitors:list": "read",
    "monitors:create": "create",
    "monitors:detail": "read",
    "monitors:edit": "create",
    "monitors:pause": "create",
    "monitors:resume": "create",
    "monitors:run": "create",
    "monitors:delete": "create",
    # alerts
    "alerts:list": "read",
    "alerts:detail": "read",
    "alerts:acknowledge": "create",
    "alerts:snooze": "create",
    "alerts:resolve": "create",
    "alerts:notifications_read": "read",  # each member marks their own notices
    "alerts:channels": {"GET": "read", "POST": "manage"},
    "alerts:channel_edit": "manage",
    "alerts:channel_rotate": "manage",
    "alerts:channel_delete": "manage",
    "alerts:rules": {"GET": "read", "POST": "create"},
    "alerts:rule_edit": "create",
    "alerts:rule_delete": "create",
    "alerts:stream_rules": {"GET": "read", "POST": "create"},
    # streams (admins manage, pause and resume them; every member may look)
    "streams:list": "read",
    "streams:create": "manage",
    "streams:detail": "read",
    "streams:edit": "manage",
    "streams:delete": "manage",
    "streams:pause": "manage",
    "streams:resume": "manage",
    "streams:rotate_token": "manage",
    # database sources (admins manage them; every member may look)
    "sources:list": "read",
    "sources:create": "manage",
    "sources:detail": "read",
    "sources:edit": "manage",
    "sources:delete": "manage",
    "sources:test": "manage",
    "sources:preview": "manage",
    "sources:pull": "manage",
    # feedback (analysts' verdicts)
    "feedback:row": {"GET": "read", "POST": "create"},  # POST: the label permission
    "feedback:sync": "create",
    "feedback:export_csv": "read",
    "feedback:export_json": "read",
    "feedback:retrain": "create",
    "feedback:learn_threshold": "create",
    # API token pages (each member manages their own tokens)
    "api_tokens:list": "read",
    "api_tokens:revoke": "read",
    # REST API /api/v1/ (django-ninja: one pattern per operation, named after it)
    "api-v1:api-root": "api-nothing",
    "api-v1:openapi-json": "api-public",
    "api-v1:openapi-view": "api-public",
    "api-v1:me": "api-any-token",
    "api-v1:tenants": "api-any-token",
    "api-v1:upload": "api-create-own",
    "api-v1:upload_stream": "api-create-own",
    "api-v1:list_datasets": "api-any-token",
    "api-v1:get_dataset": "api-read",
    "api-v1:delete_dataset": "api-write",
    "api-v1:versions": "api-read",
    "api-v1:profile": "api-read",
    "api-v1:list_detectors": "api-any-token",
    "api-v1:get_detector": "api-any-token",
    "api-v1:list_configs": "api-any-token",
    "api-v1:create_config": "api-create-own",
    "api-v1:get_config": "api-read",
    "api-v1:update_config": "api-write",
    "api-v1:delete_config": "api-write",
    "api-v1:start_run": "api-write",  # names A's dataset and configuration
    "api-v1:list_runs": "api-any-token",
    "api-v1:get_run": "api-read",
    "api-v1:cancel_run": "api-write",
    "api-v1:run_results": "api-read",
    "api-v1:run_explanations": "api-read",
    "api-v1:run_row": "api-read",
    "api-v1:download": "api-read",
    "api-v1:list_models": "api-any-token",
    "api-v1:get_model": "api-read",
    "api-v1:export_model": "api-read",  # a download: a read-scope token may export
    "api-v1:mlflow_state": "api-read",
    "api-v1:mlflow_register": "api-write-not-logged",
    "api-v1:score": "api-read",  # scoring changes nothing: a read-scope token may score
    "api-v1:list_monitors": "api-any-token",
    "api-v1:create_monitor": "api-write",  # names A's dataset and configuration
    "api-v1:get_monitor": "api-read",
    "api-v1:update_monitor": "api-write",
    "api-v1:delete_monitor": "api-write",
    "api-v1:pause_monitor": "api-write",
    "api-v1:resume_monitor": "api-write",
    "api-v1:run_monitor": "api-write",
    "api-v1:list_executions": "api-read",
    "api-v1:get_execution": "api-read",
    "api-v1:list_alerts": "api-any-token",
    "api-v1:get_alert": "api-read",
    "api-v1:acknowledge_alert": "api-write",
    "api-v1:snooze_alert": "api-write",
    "api-v1:resolve_alert": "api-write",
    "api-v1:alert_deliveries": "api-read",
    "api-v1:list_rules": "api-read",
    "api-v1:create_rule": "api-write",  # names A's monitor
    "api-v1:get_rule": "api-read",
    "api-v1:update_rule": "api-write",
    "api-v1:delete_rule": "api-write",
    "api-v1:list_channels": "api-any-token",
    "api-v1:create_channel": "api-manage-own",
    "api-v1:get_channel": "api-read",
    "api-v1:update_channel": "api-manage",
    "api-v1:rotate_channel_secret": "api-manage",
    "api-v1:delete_channel": "api-manage",
    "api-v1:list_sources": "api-any-token",
    "api-v1:create_source": "api-manage-own",
    "api-v1:get_source": "api-read",
    "api-v1:update_source": "api-manage",
    "api-v1:delete_source": "api-manage",
    "api-v1:test_source": "api-manage",
    "api-v1:preview_source": "api-manage",
    "api-v1:pull_source": "api-manage",
    "api-v1:list_streams": "api-any-token",
    "api-v1:create_stream": "api-manage-own",
    "api-v1:get_stream": "api-read",
    "api-v1:update_stream": "api-manage",
    "api-v1:delete_stream": "api-manage",
    "api-v1:pause_stream": "api-manage",
    "api-v1:resume_stream": "api-manage",
    "api-v1:rotate_push_token": "api-manage",
    "api-v1:stream_anomalies": "api-read",
    "api-v1:stream_dead_letters": "api-read",
    "api-v1:stream_stats": "api-read",
    "api-v1:push_events": "api-push",
    "api-v1:list_run_verdicts": "api-read",
    "api-v1:create_run_verdict": "api-write",
    "api-v1:delete_run_verdict": "api-write",
    "api-v1:export_run_verdicts": "api-read",
    "api-v1:run_verdict_summary": "api-read",
    "api-v1:retrain_run": "api-write",
    "api-v1:run_threshold_from_verdicts": "api-write",
    "api-v1:list_version_verdicts": "api-read",
    "api-v1:create_version_verdict": "api-write",
    "api-v1:delete_version_verdict": "api-write",
    "api-v1:compare_runs": "api-read",
    "api-v1:leaderboard": "api-read",
    "api-v1:start_bakeoff": "api-write",
}

# Framework URLs left out of the matrix, each with the reason.
ALLOWLIST_PREFIXES = {
    "admin:": "Django admin: staff-only, guarded by the admin site itself (not tenant data access)",
    "account_": "django-allauth account pages (sign-in, sign-up, password, e-mail): public by design",
    "mfa_": "allauth MFA pages: each about the signed-in user's own authenticators",
    "socialaccount_": "allauth's SSO pages (connections, signup, errors): the signed-in user's own",
    "openid_connect_": "OIDC sign-in and callback: public by design (tests/integration/test_sso_oidc.py)",
    "saml_": "SAML sign-in, ACS, metadata: public by design (tests/web/tenants/test_sso_saml.py)",
}
ALLOWLIST_NAMES = {
    "admin_login_redirect": "replaces the admin's own sign-in form with the throttled allauth one",
}
ALLOWLIST_UNNAMED_ROUTES = {
    "admin/": "the admin's unnamed redirects and catch-all",
    "accounts/social/": "allauth's SSO status pages (sign-in cancelled / failed): no data, public",
    "api/^.*$": "the API's catch-all: a problem+json 404 for unknown paths",
}

# What every allowed call of a state-changing (pattern, method) writes to the audit trail: exactly one event.
AUDITED: dict[tuple[str, str], str] = {
    ("tenant_create", "POST"): "tenant.created",
    ("tenants:rename", "POST"): "tenant.renamed",
    ("tenants:transfer", "POST"): "tenant.ownership_transferred",
    ("tenants:delete", "POST"): "tenant.deleted",
    ("tenants:member_role", "POST"): "membership.role_changed",
    ("tenants:member_remove", "POST"): "membership.removed",
    ("tenants:invite", "POST"): "invitation.sent",
    ("tenants:invitation_revoke", "POST"): "invitation.revoked",
    ("tenants:sso", "POST"): "tenant.sso_updated",
    ("mlflow_sync:setting", "POST"): "tenant.mlflow_updated",
    ("datasets:upload", "POST"): "dataset.uploaded",
    ("dashboard:demo_data", "POST"): "dataset.uploaded",
    ("datasets:delete", "POST"): "dataset.deleted",
    ("detectors:config_create", "POST"): "detector.created",
    ("detectors:config_edit", "POST"): "detector.updated",
    ("runs:start", "POST"): "run.started",
    ("runs:cancel", "POST"): "run.cancelled",
    ("runs:rerun", "POST"): "run.started",
    ("runs:threshold_save", "POST"): "run.threshold_changed",
    ("runs:bakeoff", "POST"): "run.bakeoff_started",
    ("runs:share", "POST"): "run.shared",
    ("runs:share_revoke", "POST"): "run.share_revoked",
    ("api_tokens:list", "POST"): "token.created",
    ("api_tokens:revoke", "POST"): "token.revoked",
    ("api-v1:upload", "POST"): "dataset.uploaded",
    ("api-v1:upload_stream", "PUT"): "dataset.uploaded",
    ("api-v1:delete_dataset", "DELETE"): "dataset.deleted",
    ("api-v1:create_config", "POST"): "detector.created",
    ("api-v1:update_config", "PATCH"): "detector.updated",
    ("api-v1:delete_config", "DELETE"): "detector.deleted",
    ("api-v1:start_run", "POST"): "run.started",
    ("api-v1:cancel_run", "POST"): "run.cancelled",
    ("monitors:create", "POST"): "monitor.created",
    ("monitors:edit", "POST"): "monitor.updated",
    ("monitors:pause", "POST"): "monitor.paused",
    ("monitors:resume", "POST"): "monitor.resumed",
    ("monitors:run", "POST"): "monitor.run_requested",
    ("monitors:delete", "POST"): "monitor.deleted",
    ("api-v1:create_monitor", "POST"): "monitor.created",
    ("api-v1:update_monitor", "PATCH"): "monitor.updated",
    ("api-v1:delete_monitor", "DELETE"): "monitor.deleted",
    ("api-v1:pause_monitor", "POST"): "monitor.paused",
    ("api-v1:resume_monitor", "POST"): "monitor.resumed",
    ("api-v1:run_monitor", "POST"): "monitor.run_requested",
    ("alerts:acknowledge", "POST"): "alert.acknowledged",
    ("alerts:snooze", "POST"): "alert.snoozed",
    ("alerts:resolve", "POST"): "alert.resolved",
    ("alerts:channels", "POST"): "alert_channel.created",
    ("alerts:channel_edit", "POST"): "alert_channel.updated",
    ("alerts:channel_rotate", "POST"): "alert_channel.secret_rotated",
    ("alerts:channel_delete", "POST"): "alert_channel.deleted",
    ("alerts:rules", "POST"): "alert_rule.created",
    ("alerts:rule_edit", "POST"): "alert_rule.updated",
    ("alerts:rule_delete", "POST"): "alert_rule.deleted",
    ("api-v1:acknowledge_alert", "POST"): "alert.acknowledged",
    ("api-v1:snooze_alert", "POST"): "alert.snoozed",
    ("api-v1:resolve_alert", "POST"): "alert.resolved",
    ("api-v1:create_rule", "POST"): "alert_rule.created",
    ("api-v1:update_rule", "PATCH"): "alert_rule.updated",
    ("api-v1:delete_rule", "DELETE"): "alert_rule.deleted",
    ("api-v1:create_channel", "POST"): "alert_channel.created",
    ("api-v1:update_channel", "PATCH"): "alert_channel.updated",
    ("api-v1:rotate_channel_secret", "POST"): "alert_channel.secret_rotated",
    ("api-v1:delete_channel", "DELETE"): "alert_channel.deleted",
    ("sources:create", "POST"): "source.created",
    ("sources:edit", "POST"): "source.updated",
    ("sources:delete", "POST"): "source.deleted",
    ("sources:test", "POST"): "source.tested",
    ("sources:preview", "POST"): "source.previewed",
    ("sources:pull", "POST"): "source.pull_queued",
    ("streams:create", "POST"): "stream.created",
    ("streams:edit", "POST"): "stream.updated",
    ("streams:delete", "POST"): "stream.deleted",
    ("streams:pause", "POST"): "stream.paused",
    ("streams:resume", "POST"): "stream.resumed",
    ("streams:rotate_token", "POST"): "stream.push_token_rotated",
    ("alerts:stream_rules", "POST"): "alert_rule.created",
    ("api-v1:create_stream", "POST"): "stream.created",
    ("api-v1:update_stream", "PATCH"): "stream.updated",
    ("api-v1:delete_stream", "DELETE"): "stream.deleted",
    ("api-v1:pause_stream", "POST"): "stream.paused",
    ("api-v1:resume_stream", "POST"): "stream.resumed",
    ("api-v1:rotate_push_token", "POST"): "stream.push_token_rotated",
    ("api-v1:create_source", "POST"): "source.created",
    ("api-v1:update_source", "PATCH"): "source.updated",
    ("api-v1:delete_source", "DELETE"): "source.deleted",
    ("api-v1:test_source", "POST"): "source.tested",
    ("api-v1:preview_source", "POST"): "source.previewed",
    ("api-v1:pull_source", "POST"): "source.pull_queued",
    ("feedback:row", "POST"): "verdict.set",
    ("feedback:sync", "POST"): "verdict.set",
    ("feedback:retrain", "POST"): "run.started",
    ("feedback:learn_threshold", "POST"): "run.threshold_changed",
    ("api-v1:create_run_verdict", "POST"): "verdict.set",
    ("api-v1:delete_run_verdict", "DELETE"): "verdict.cleared",
    ("api-v1:retrain_run", "POST"): "run.started",
    ("api-v1:run_threshold_from_verdicts", "POST"): "run.threshold_changed",
    ("api-v1:create_version_verdict", "POST"): "verdict.set",
    ("api-v1:delete_version_verdict", "DELETE"): "verdict.cleared",
    ("api-v1:start_bakeoff", "POST"): "run.bakeoff_started",
}

# Object parameters: a pattern taking one of these is about one object of the tenant.
OBJECT_PARAMS = {
    "pk", "number", "config_id", "run_id", "share_id", "dataset_id", "model_id", "source_id",
    "monitor_id", "alert_id", "rule_id", "channel_id", "version_id", "stream_id",
}  # fmt: skip


# ---------------------------------------------------------------- walking the URL configuration
@dataclass
class Pattern:
    name: str | None
    route: str
    params: list[str]
    callback: object = field(repr=False)

    @property
    def api(self) -> bool:
        return self.route.startswith("api/")


def walk(resolver=None, prefix: str = "", namespace: str = "", params: tuple = ()) -> list[Pattern]:
    """Every URL pattern with its full route, namespaced name and path parameters (includes expanded)."""
    found = []
    for p in (resolver or get_resolver()).url_patterns:
        here = (*params, *p.pattern.regex.groupindex)
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            found += walk(p, prefix + str(p.pattern), ns, here)
        elif isinstance(p, URLPattern):
            name = f"{namespace}{p.name}" if p.name else None
            found.append(Pattern(name, prefix + str(p.pattern), list(here), p.callback))
    return found


def allowlisted(p: Pattern) -> bool:
    if p.name is None:
        return any(p.route.startswith(r) or p.route == r for r in ALLOWLIST_UNNAMED_ROUTES)
    return p.name in ALLOWLIST_NAMES or any(p.name.startswith(x) for x in ALLOWLIST_PREFIXES)


def matrix_patterns() -> list[Pattern]:
    return [p for p in walk() if not allowlisted(p)]


def ninja_methods(p: Pattern) -> list[str] | None:
    """The HTTP methods of a django-ninja operation pattern (several operations share one route)."""
    for cell in getattr(p.callback, "__closure__", None) or ():
        view = cell.cell_contents
        if hasattr(view, "operations"):
            short = p.name.split(":", 1)[1]
            return [
                m
                for op in view.operations
                if (getattr(op, "url_name", None) or op.view_func.__name__) == short
                for m in op.methods
            ]
    return None


def rule_for(name: str, method: str) -> str:
    entry = MATRIX[name]
    return entry if isinstance(entry, str) else entry[method]


# ---------------------------------------------------------------- tenant A and the actors
@pytest.fixture
def world(settings, tmp_path, alice, tenant_a, bob, vera, charlie, tenant_b):
    """Tenant A with one of everything, its members at every role, a stranger and a shared user."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PYNOMALY_DOCS_DIR = tmp_path / "docs_site"
    (settings.PYNOMALY_DOCS_DIR / "concepts").mkdir(parents=True)
    for page in ("index.html", "concepts/index.html"):
        (settings.PYNOMALY_DOCS_DIR / page).write_text("<title>Pynomaly</title>")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    settings.READYZ_CELERY_TIMEOUT = 0.05
    settings.API_RATE_PER_TOKEN = settings.API_RATE_PER_IP = settings.API_RATE_ANON = "100000/min"
    from apps.api import throttling
    from apps.api.services import token_create
    from apps.runs import selectors
    from apps.runs.sharing import run_share
    from apps.tenants.services import invitation_create, membership_add, tenant_create
    from tests.web.detectors.test_scoring import register, train
    from tests.web.runs.test_results_fixtures import (
        make_detector,
        make_run,
        make_version,
        small_run,
    )

    throttling.reset_all()
    selectors._cache.clear()
    adam = _user("adam@example.com")
    membership_add(tenant=tenant_a, user=adam, role="admin")
    tess = _user("tess@example.com")  # the member whose role is changed and who is removed
    target = membership_add(tenant=tenant_a, user=tess, role="viewer")
    sam = _user("sam@example.com")
    tenant_create(name="Sam's workspace", owner=sam, personal=True)
    _user("olga@example.com")  # an account outside A that runs get shared with

    run = small_run(tenant_a)
    version = run.dataset_version
    queued = make_run(
        tenant_a, version, [0.1], threshold=0.5, status="queued", detector=run.detector_version
    )
    spare_version = make_version(tenant_a, {"x": [1.0, 2.0, 3.0]})
    spare_config = make_detector(tenant_a).config
    share = run_share(run=run, email="sam@example.com", expires_at=None, actor=alice)
    invitation, invitation_token = invitation_create(
        tenant=tenant_a, email="newcomer@example.com", role="viewer", actor=alice
    )
    model = register(tenant_a, alice, train("iforest"), tmp_path / "media")
    monitor, paused_monitor = _monitors(tenant_a, alice, version, run.detector_version)
    alerting = _alerting(tenant_a, alice, monitor)
    source = _matrix_source(settings, tmp_path, tenant_a, alice)
    streams = _matrix_streams(tenant_a, alice)
    from apps.feedback.services import verdict_record

    for row in range(20):  # verdicts of both kinds, most of them in the training part
        verdict_record(
            tenant=tenant_a, user=alice, version=version, row=row,
            verdict="anomaly" if row % 2 else "normal", run=run,
        )  # fmt: skip

    users = {
        "viewer": vera,
        "analyst": bob,
        "admin": adam,
        "owner": alice,
        "stranger": charlie,
        "shared": sam,
    }
    tokens, raw = {}, {}
    for actor, user in users.items():
        tenant = (
            tenant_a
            if actor in ("viewer", "analyst", "admin", "owner")
            else user.memberships.get().tenant
        )
        tokens[actor], raw[actor] = token_create(
            user=user, tenant=tenant, name=f"{actor}-matrix", scope="write"
        )
    clients = {"anon": Client()}
    for actor, user in users.items():
        clients[actor] = Client()
        clients[actor].force_login(user)
    return SimpleNamespace(
        a=tenant_a,
        b=tenant_b,
        users=users,
        clients=clients,
        raw=raw,
        tokens=tokens,
        run=run,
        version=version,
        queued=queued,
        dataset=version.dataset,
        spare_dataset=spare_version.dataset,
        config=run.detector_version.config,
        spare_config=spare_config,
        share=share,
        invitation=invitation,
        invitation_token=invitation_token,
        model=model,
        target=target,
        monitor=monitor,
        paused_monitor=paused_monitor,
        source=source,
        **streams,
        **alerting,
    )


def _monitors(tenant, user, version, detector_version):
    """An active monitor with one finished execution, and a paused one (to resume)."""
    from apps.monitors.models import MonitorExecution
    from apps.monitors.services import MonitorInput, monitor_create, monitor_pause

    def make(name):
        return monitor_create(
            tenant=tenant,
            user=user,
            data=MonitorInput(
                name=name,
                dataset=version.dataset,
                detector_version=detector_version,
                interval_seconds=600,
            ),
        )

    monitor = make("Matrix monitor")
    MonitorExecution.objects.create(
        tenant=tenant, monitor=monitor, number=version.number, status="succeeded"
    )
    paused = monitor_pause(monitor=make("Paused monitor"), user=user)
    return monitor, paused


def _alerting(tenant, user, monitor) -> dict:
    """On A's monitor: a rule, an open alert, an in-app and a webhook channel."""
    from apps.alerts.models import Alert, Channel
    from apps.common import secrets
    from apps.monitors.models import MonitorExecution
    from tests.web.alerts.conftest import rule_for

    channel = Channel.objects.create(tenant=tenant, name="matrix app", kind="inapp")
    hook = Channel.objects.create(
        tenant=tenant, name="matrix hook", kind="webhook", url="http://hooks.example.com/x",
        secret_encrypted=secrets.encrypt("whsec_matrix"),
    )  # fmt: skip
    rule = rule_for(monitor, user, [channel], min_anomalies=1)
    execution = MonitorExecution.objects.create(
        tenant=tenant, monitor=monitor, number=99, status="succeeded", rows=10, anomalies=2
    )
    from apps.alerts.services import alerts_for_execution

    alerts_for_execution(execution=execution)
    return {"channel": channel, "hook": hook, "rule": rule,
            "alert": Alert.objects.get(rule=rule)}  # fmt: skip


def _matrix_streams(tenant, user) -> dict:
    """An active stream, a paused one (to resume) and an HTTP push one (to rotate its token)."""
    from apps.streams.services import stream_create, stream_pause

    def make(name, **data):
        return stream_create(tenant=tenant, user=user, data={**STREAM_BODY, "name": name, **data})[
            0
        ]

    return {
        "stream": make("matrix stream"),
        "paused_stream": stream_pause(stream=make("paused stream"), user=user),
        "push_stream": make("push stream", kind="http", config={}),
    }


STREAM_BODY = {
    "name": "matrix stream", "kind": "redis", "learner": "hst", "columns": ["x", "y"],
    "config": {"url": "redis://127.0.0.1:6379/0", "key": "pyn-matrix"},
}  # fmt: skip
STREAM_FORM = {
    "name": "matrix stream", "kind": "redis", "redis_url": "redis://127.0.0.1:6379/0",
    "redis_key": "pyn-matrix", "learner": "hst", "columns": "x, y", "batch_size": "100",
}  # fmt: skip


def _matrix_source(settings, tmp_path, tenant, user):
    """A SQLite source (no network needed) whose test, preview and pull succeed."""
    import sqlite3

    from apps.sources.services import source_create

    directory = tmp_path / "sources"
    directory.mkdir()
    settings.PYNOMALY_SOURCE_SQLITE_DIR = str(directory)
    with sqlite3.connect(directory / "matrix.db") as conn:
        conn.execute("CREATE TABLE t (id INTEGER, v REAL)")
        conn.execute("INSERT INTO t VALUES (1, 0.5), (2, 1.5)")
    return source_create(tenant=tenant, user=user, data=SOURCE_BODY)


SOURCE_BODY = {
    "name": "matrix source", "kind": "sqlite", "database": "matrix.db", "table": "t",
    "watermark_column": "id",
}  # fmt: skip
SOURCE_FORM = {
    **SOURCE_BODY, "statement_timeout_seconds": "30", "row_cap": "1000", "columns_cap": "50",
}  # fmt: skip


def kwargs_for(p: Pattern, w, actor: str, slug: str | None = None) -> dict:
    """Path parameters: tenant A's objects (a spare one where the action would be refused for its use)."""
    name = p.name
    special_pk = {
        "tenants:member_role": w.target.pk,
        "tenants:member_remove": w.target.pk,
        "tenants:invitation_revoke": w.invitation.pk,
        "datasets:delete": w.spare_dataset.pk,
        # each member revokes their own token; the others reach for the owner's
        "api_tokens:revoke": (
            w.tokens[actor]
            if actor in ("viewer", "analyst", "admin", "owner")
            else w.tokens["owner"]
        ).pk,
    }
    values = {
        "tenant_slug": slug or w.a.slug,
        "pk": special_pk.get(name, w.dataset.pk),
        "number": w.version.number,
        "run_id": w.queued.pk if name in ("runs:cancel", "api-v1:cancel_run") else w.run.pk,
        "config_id": w.spare_config.pk if name == "api-v1:delete_config" else w.config.pk,
        "dataset_id": w.spare_dataset.pk if name == "api-v1:delete_dataset" else w.dataset.pk,
        "share_id": w.share.pk,
        "model_id": w.model.pk,
        "monitor_id": (
            w.paused_monitor.pk
            if name in ("monitors:resume", "api-v1:resume_monitor")
            else w.monitor.pk
        ),
        "row_id": 0,
        "name": "histogram",  # runs:figure
        "index": 0,  # the first widget of the member's overview
        "key": "iforest",
        "token": w.invitation_token,
        "alert_id": w.alert.pk,
        "rule_id": w.rule.pk,
        "channel_id": (
            w.hook.pk
            if name in ("alerts:channel_rotate", "api-v1:rotate_channel_secret")
            else w.channel.pk
        ),
        "source_id": w.source.pk,
        "stream_id": (
            w.paused_stream.pk
            if name in ("streams:resume", "api-v1:resume_stream")
            else w.push_stream.pk
            if name in ("streams:rotate_token", "api-v1:rotate_push_token", "api-v1:push_events")
            else w.stream.pk
        ),
        "row": 1,  # holds a verdict (the world's rows 0-19 do)
        "version_id": w.version.pk,
        "path": "concepts/",
    }
    return {k: values[k] for k in p.params}


def path_for(p: Pattern, w, actor: str, slug: str | None = None) -> str:
    if p.name is None:
        raise AssertionError(f"unnamed pattern {p.route} is neither in the matrix nor allowlisted")
    return reverse(p.name, kwargs=kwargs_for(p, w, actor, slug))


CSV = b"x,y\n1,2\n3,4\n5,6\n"
CONFIG_FORM = {
    "name": "Matrix forest",
    "description": "",
    "algorithm": "iforest",
    "combine": "average",
    "scaling": "standard",
    "encode_categoricals": "on",
    "impute": "on",
    "drop_constant": "on",
    "threshold_kind": "contamination",
    "threshold_value": "0.05",
    "iforest__n_estimators": "50",
    "iforest__max_samples": "auto",
    "iforest__max_features": "1.0",
}


def body_for(name: str, method: str, w) -> dict:
    """Client keyword arguments that make an allowed call succeed (fresh files for every call)."""
    forms = {
        "tenant_create": {"name": "Another lab"},
        "tenants:rename": {"name": "Acme renamed"},
        "tenants:transfer": {"membership": w.target.pk},
        "tenants:delete": {"confirm_name": w.a.name},
        "tenants:member_role": {"role": "analyst"},
        "dashboard:widget_add": {"type": "run_chart", "run_chart_id": w.run.pk},
        "dashboard:widget_move": {"direction": "down"},
        "tenants:invite": {"email": "fresh@example.com", "role": "viewer"},
        "tenants:sso": {"groups_claim": "roles", "default_role": "viewer", "mappings": "x = admin"},
        # a private address: the network guard allows it and nothing resolves or connects
        "mlflow_sync:setting": {
            "enabled": "on",
            "tracking_uri": "http://10.1.2.3:5000",
            "auth": "token",
            "secret": "matrix-token",
        },
        "datasets:upload": {"name": "fresh", "file": SimpleUploadedFile("fresh.csv", CSV)},
        "detectors:config_create": CONFIG_FORM,
        "detectors:config_edit": {
            **CONFIG_FORM,
            "name": w.config.name,
            "iforest__n_estimators": "60",
        },
        "runs:start": {
            "dataset_version": w.version.pk,
            "detector": w.config.pk,
            "accept_cost": "on",
        },
        "runs:threshold_save": {"threshold": "0.5"},
        "monitors:create": _monitor_form(w, "Fresh monitor"),
        "monitors:edit": _monitor_form(w, w.monitor.name),
        "feedback:row": {"verdict": "unsure", "note": "from the matrix"},
        "runs:bakeoff": {"configs": [w.config.pk, w.spare_config.pk], "accept_cost": "on"},
        "runs:share": {"email": "olga@example.com"},
        "mlflow_sync:register": {"name": "matrix model"},
        "api_tokens:list": {"name": "matrix token", "scope": "read", "expires_in_days": "30"},
        "alerts:snooze": {"hours": "4"},
        "alerts:channels": {"name": "matrix mail", "kind": "inapp", "format": "json"},
        "alerts:channel_edit": {"name": "matrix app 2", "format": "json", "enabled": "on"},
        "alerts:rules": {
            "name": "matrix rule",
            "match": "any",
            "cooldown_seconds": "60",
            "min_anomalies": "3",
        },
        "alerts:rule_edit": {
            "name": "matrix rule 2",
            "match": "all",
            "cooldown_seconds": "0",
            "min_anomalies": "2",
        },
        "sources:create": {**SOURCE_FORM, "name": "another source"},
        "sources:edit": {**SOURCE_FORM, "row_cap": "500"},
        "streams:create": {**STREAM_FORM, "name": "another stream"},
        "streams:edit": {**STREAM_FORM, "batch_size": "200"},
        "alerts:stream_rules": {
            "name": "matrix stream rule",
            "match": "any",
            "cooldown_seconds": "60",
            "min_anomalies": "3",
        },
    }
    json_bodies = {
        "dashboard:layout": {"widgets": [{"type": "counts"}, {"type": "recent_runs"}]},
        "api-v1:create_config": {
            "name": "API forest",
            "pipeline": {"detectors": [{"key": "iforest", "params": {}}]},
        },
        "api-v1:update_config": {"description": "changed by the matrix"},
        "api-v1:start_run": {
            "dataset_id": w.dataset.pk,
            "detector_config_id": w.config.pk,
            "accept_cost": True,
        },
        "api-v1:score": {"records": [{"a": 0.1, "b": 0.2, "c": 0.3, "kind": "x"}]},
        "api-v1:create_monitor": {
            "name": "API monitor",
            "dataset_id": w.dataset.pk,
            "detector_config_id": w.config.pk,
            "interval_seconds": 600,
        },
        "api-v1:update_monitor": {"interval_seconds": 900},
        "api-v1:snooze_alert": {"hours": 2},
        "api-v1:create_rule": {"name": "api rule", "min_anomalies": 2},
        "api-v1:update_rule": {"min_anomalies": 5},
        "api-v1:create_channel": {"name": "api channel", "kind": "inapp"},
        "api-v1:update_channel": {"enabled": False},
        "api-v1:create_source": {**SOURCE_BODY, "name": "api source"},
        "api-v1:update_source": {"row_cap": 500},
        "api-v1:create_stream": {**STREAM_BODY, "name": "api stream"},
        "api-v1:update_stream": {"batch_size": 300},
        "api-v1:push_events": [{"x": 1.0, "y": 2.0}],
        "api-v1:mlflow_register": {"name": "matrix model"},
        "feedback:sync": {"items": [{"row": 50, "verdict": "anomaly"}]},
        "api-v1:create_run_verdict": {"row": 50, "verdict": "anomaly"},
        "api-v1:create_version_verdict": {"row": 51, "verdict": "normal", "note": "api"},
        "api-v1:start_bakeoff": {
            "detector_config_ids": [w.config.pk, w.spare_config.pk],
            "accept_cost": True,
        },
    }
    if name in ("api-v1:compare_runs", "runs:compare_figure"):
        return {"QUERY_STRING": f"a={w.run.pk}&b={w.run.pk}"}
    if name == "api-v1:upload":
        return {"data": {"name": "api-upload", "file": SimpleUploadedFile("api.csv", CSV)}}
    if name == "api-v1:upload_stream":
        return {
            "data": CSV,
            "content_type": "application/octet-stream",
            "QUERY_STRING": "name=streamed&filename=s.csv",
        }
    if name in json_bodies and method in ("POST", "PATCH", "PUT"):
        return {"data": json_bodies[name], "content_type": "application/json"}
    if method == "POST":
        return {"data": forms.get(name, {})}
    return {}


def _monitor_form(w, name: str) -> dict:
    return {
        "name": name,
        "watch": "dataset",
        "dataset": w.dataset.pk,
        "detector": w.config.pk,
        "schedule": "interval",
        "interval_seconds": "900",
        "retrain": "manual",
    }


def call(client: Client, method: str, path: str, *, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = getattr(client, method.lower())(path, headers=headers, **kwargs)
    if response.streaming:  # read it all: an error inside a download's generator must show here
        b"".join(
            response.streaming_content
        )  # (the test client closes it without closing the database)
    return response


class _Rollback(Exception):
    pass


def in_savepoint(fn):
    """Run ``fn`` and undo whatever it wrote; returns what ``fn`` returned."""
    box = []
    try:
        with transaction.atomic():
            box.append(fn())
            raise _Rollback
    except _Rollback:
        pass
    return box[0]


def outcome(response) -> object:
    """The response as the table spells it."""
    code = response.status_code
    if code in (301, 302, 303, 307, 308):
        return LOGIN if response["Location"].startswith("/accounts/login/") else OK
    if 200 <= code < 300:
        return OK
    return code


def methods_of(p: Pattern, w) -> list[str]:
    """Methods the pattern accepts: the operation's for the API, else what the owner is not refused (405)."""
    if p.api:
        found = ninja_methods(p)
        if found is not None:
            return found
    accepted = []
    for method in ("GET", "POST"):
        path = path_for(p, w, "owner")
        response = in_savepoint(
            lambda method=method, path=path: call(
                w.clients["owner"], method, path, **body_for(p.name, method, w)
            )
        )
        if response.status_code != 405:
            accepted.append(method)
    return accepted


# ---------------------------------------------------------------- tests
def test_every_url_pattern_is_in_the_matrix():
    names = {p.name for p in matrix_patterns()}
    unnamed = [p.route for p in matrix_patterns() if p.name is None]
    assert unnamed == [], "name these patterns or allowlist them with a reason"
    assert names - MATRIX.keys() == set(), "new URL patterns: add them to MATRIX"
    assert MATRIX.keys() - names == set(), "MATRIX lists patterns that no longer exist"
    for (name, _method), _action in AUDITED.items():
        assert name in MATRIX


def test_the_permission_matrix(world):
    w = world
    failures, calls, audited_seen = [], 0, set()
    for p in matrix_patterns():
        for method in methods_of(p, w):
            rule = RULES[rule_for(p.name, method)]
            actors = list(ACTORS) + ([] if p.api else ["cross"])
            for actor in actors:
                if actor == "cross":
                    # charlie in his own workspace's URL, naming A's objects: 404 for every object URL
                    client, path, token = (
                        w.clients["stranger"],
                        path_for(p, w, "stranger", slug=w.b.slug),
                        None,
                    )
                    if not (set(p.params) & OBJECT_PARAMS and "tenant_slug" in p.params):
                        continue
                    expected = 404
                else:
                    client = Client() if p.api else w.clients[actor]
                    path = path_for(p, w, actor)
                    token = w.raw.get(actor) if p.api else None
                    expected = rule[actor]
                audited = AUDITED.get((p.name, method))

                def once(client=client, method=method, path=path, token=token, name=p.name):
                    before = AuditEvent.objects.count()
                    response = call(client, method, path, token=token, **body_for(name, method, w))
                    actions = list(
                        AuditEvent.objects.order_by("-id").values_list("action", flat=True)[
                            : max(AuditEvent.objects.count() - before, 0)
                        ]
                    )
                    return response, actions

                response, actions = in_savepoint(once)
                calls += 1
                got = outcome(response)
                if p.name == "readyz" and response.status_code == 503:
                    got = OK  # no Celery worker in this test: the probe says so, publicly
                where = f"{method} {p.name} ({path}) as {actor}"
                if got != expected:
                    failures.append(
                        f"{where}: expected {expected}, got {response.status_code} "
                        f"{response.get('Location', '')}"
                    )
                elif audited and expected == OK and actor != "cross":
                    audited_seen.add((p.name, method))
                    mine = [a for a in actions if a == audited]
                    if len(mine) != 1:
                        failures.append(f"{where}: expected one {audited} event, got {actions}")
                elif audited and expected != OK and audited in actions:
                    failures.append(f"{where}: refused, yet wrote {audited}")
    print(f"\npermission matrix: {calls} calls")
    assert failures == [], "\n".join(failures)
    assert audited_seen == AUDITED.keys(), "state-changing actions never called by an allowed actor"


def test_every_post_refuses_a_request_without_a_csrf_token(world):
    """Browser forms only: the API authenticates with bearer tokens, never with cookies."""
    w = world
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(w.users["owner"])
    anonymous = Client(enforce_csrf_checks=True)
    failures, checked = [], 0
    for p in matrix_patterns():
        if p.api or "POST" not in methods_of(p, w):
            continue
        for client in (strict, anonymous):
            path = path_for(p, w, "owner")
            response = in_savepoint(
                lambda client=client, path=path, name=p.name: call(
                    client, "POST", path, **body_for(name, "POST", w)
                )
            )
            checked += 1
            if response.status_code != 403:
                failures.append(
                    f"POST {p.name} ({path}) without a CSRF token: {response.status_code}"
                )
    assert checked > 20
    assert failures == [], "\n".join(failures)


def test_a_member_reaching_for_another_tenants_objects_is_audited_once(world):
    """The cross-tenant 404s of the object helpers (datasets, detectors, runs) each leave one access.denied."""
    w = world
    b = w.b.slug
    paths = [
        reverse("datasets:detail", kwargs={"tenant_slug": b, "pk": w.dataset.pk}),
        reverse("datasets:version", kwargs={"tenant_slug": b, "pk": w.dataset.pk, "number": 1}),
        reverse("detectors:config_detail", kwargs={"tenant_slug": b, "config_id": w.config.pk}),
        reverse("runs:detail", kwargs={"tenant_slug": b, "run_id": w.run.pk}),
        reverse("runs:results", kwargs={"tenant_slug": b, "run_id": w.run.pk}),
        reverse("runs:download_csv", kwargs={"tenant_slug": b, "run_id": w.run.pk}),
    ]
    for path in paths:
        before = AuditEvent.objects.filter(action="access.denied").count()
        response = w.clients["stranger"].get(path)
        assert response.status_code == 404, path
        events = AuditEvent.objects.filter(action="access.denied").order_by("-id")
        assert events.count() == before + 1, path
        event = events.first()
        assert event.tenant_id == w.a.pk and event.actor_id == w.users["stranger"].pk
        assert event.details["path"] == path
    # an id that exists nowhere is just a 404, not an event
    before = AuditEvent.objects.filter(action="access.denied").count()
    missing = reverse("runs:detail", kwargs={"tenant_slug": b, "run_id": 987654})
    assert w.clients["stranger"].get(missing).status_code == 404
    assert AuditEvent.objects.filter(action="access.denied").count() == before


def test_the_404_for_a_foreign_object_is_identical_to_the_404_for_a_missing_one(world):
    w = world
    b = w.b.slug
    client = w.clients["stranger"]
    foreign = client.get(reverse("runs:detail", kwargs={"tenant_slug": b, "run_id": w.run.pk}))
    missing = client.get(reverse("runs:detail", kwargs={"tenant_slug": b, "run_id": 987654}))
    assert foreign.status_code == missing.status_code == 404

    def page(response, run_id) -> str:  # the CSRF token is masked afresh on every page
        html = response.content.decode().replace(f"/{run_id}/", "/ID/")
        return re.sub(r'"X-CSRFToken": "[^"]+"|name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    assert page(foreign, w.run.pk) == page(missing, 987654)


# API extension point: a new ninja operation appears in the resolver as "api-v1:<operation name>";
# give it a rule in MATRIX, a body in body_for (POST/PUT/PATCH) and, if it changes state, its
# audit action in AUDITED. Its methods come from ninja itself (ninja_methods).
