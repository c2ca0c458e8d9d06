"""Verdict URLs under /t/<slug>/feedback/ (namespace "feedback")."""

from django.urls import path

from . import views

app_name = "feedback"

urlpatterns = [
    path("runs/<int:run_id>/rows/<int:row>/", views.row, name="row"),
    path("runs/<int:run_id>/sync/", views.sync, name="sync"),
    path("runs/<int:run_id>/verdicts.csv", views.export_csv, name="export_csv"),
    path("runs/<int:run_id>/verdicts.json", views.export_json, name="export_json"),
    path("runs/<int:run_id>/retrain/", views.retrain, name="retrain"),
    path("runs/<int:run_id>/threshold/", views.learn_threshold, name="learn_threshold"),
]
