"""Results URLs, included by apps/runs/urls.py under /t/<slug>/runs/ (namespace "runs")."""

from django.urls import path

from . import views_figures
from . import views_results as views

urlpatterns = [
    path("<int:run_id>/results/", views.results_page, name="results"),
    path("<int:run_id>/results/table/", views.results_table, name="results_table"),
    path("<int:run_id>/results/threshold/", views.threshold_preview, name="threshold_preview"),
    path("<int:run_id>/results/threshold/save/", views.threshold_save, name="threshold_save"),
    path("<int:run_id>/figures/<slug:name>.json", views_figures.figure, name="figure"),
    path("<int:run_id>/results.csv", views.download_csv, name="download_csv"),
    path("<int:run_id>/results.parquet", views.download_parquet, name="download_parquet"),
    path("<int:run_id>/rows/<int:row_id>/", views.row_page, name="row"),
    path("compare/", views.compare, name="compare"),
    path("compare/figure.json", views_figures.compare_figure, name="compare_figure"),
]
