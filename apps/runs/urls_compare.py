"""Bake-off and leaderboard URLs, included by apps/runs/urls.py (namespace "runs")."""

from django.urls import path

from . import views_compare as views

urlpatterns = [
    path("bakeoff/<int:pk>/v/<int:number>/", views.bakeoff, name="bakeoff"),
    path("leaderboard/<int:pk>/v/<int:number>/", views.leaderboard, name="leaderboard"),
]
