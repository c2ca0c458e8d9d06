from django.contrib import admin
from django.urls import include, path

from apps.common.metrics import metrics_view
from apps.runs.views_sharing import shared_with_me
from apps.tenants.urls_global import admin_login_urlpatterns

from . import docs, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("offline/", views.offline, name="offline"),
    path("docs/", docs.docs, name="docs"),
    path("docs/<path:path>", docs.docs, name="docs_file"),
    path("shared/", shared_with_me, name="shared_with_me"),
    path("accounts/", include("allauth.urls")),
    *admin_login_urlpatterns,
    path("admin/", admin.site.urls),
    path("", include("apps.tenants.urls_global")),
    path("", include("apps.tenants.urls_audit")),
    path("t/<slug:tenant_slug>/", include("apps.tenants.urls")),
    path("t/<slug:tenant_slug>/overview/", include("apps.dashboard.urls")),
    path("t/<slug:tenant_slug>/datasets/", include("apps.datasets.urls")),
    path("t/<slug:tenant_slug>/detectors/", include("apps.detectors.urls")),
    path("t/<slug:tenant_slug>/runs/", include("apps.runs.urls")),
    path("t/<slug:tenant_slug>/monitors/", include("apps.monitors.urls")),
    path("t/<slug:tenant_slug>/alerts/", include("apps.alerts.urls")),
    path("t/<slug:tenant_slug>/sources/", include("apps.sources.urls")),
    path("t/<slug:tenant_slug>/streams/", include("apps.streams.urls")),
    path("t/<slug:tenant_slug>/feedback/", include("apps.feedback.urls")),
    path("t/<slug:tenant_slug>/", include("apps.mlflow_sync.urls")),
    path("t/<slug:tenant_slug>/settings/tokens/", include("apps.api.urls")),
    path("api/", include("apps.api.urls_api")),
]

handler403 = "pynomaly_web.errors.permission_denied"
handler404 = "pynomaly_web.errors.page_not_found"
handler500 = "pynomaly_web.errors.server_error"
