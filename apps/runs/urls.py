from django.urls import include, path

from . import views

app_name = "runs"

urlpatterns = [
    path("", views.list, name="list"),
    path("new/", views.start, name="start"),
    path("<int:run_id>/", views.detail, name="detail"),
    path("<int:run_id>/cancel/", views.cancel, name="cancel"),
    path("<int:run_id>/rerun/", views.rerun, name="rerun"),
    path("", include("apps.runs.urls_results")),
    path("", include("apps.runs.urls_sharing")),
    path("", include("apps.runs.urls_compare")),
]
