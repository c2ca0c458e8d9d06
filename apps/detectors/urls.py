from django.urls import path

from . import views

app_name = "detectors"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
]
