"""Sharing URLs, included by apps/runs/urls.py under /t/<slug>/runs/ (namespace "runs")."""

from django.urls import path

from . import views_sharing as views

urlpatterns = [
    path("<int:run_id>/share/", views.share, name="share"),
    path("<int:run_id>/share/<int:share_id>/revoke/", views.share_revoke, name="share_revoke"),
]
