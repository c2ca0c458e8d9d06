from django.urls import path

from . import views

app_name = "sources"

urlpatterns = [
    path("", views.source_list, name="list"),
    path("new/", views.create, name="create"),
    path("<int:source_id>/", views.detail, name="detail"),
    path("<int:source_id>/edit/", views.edit, name="edit"),
    path("<int:source_id>/delete/", views.delete, name="delete"),
    path("<int:source_id>/test/", views.test_connection, name="test"),
    path("<int:source_id>/preview/", views.preview, name="preview"),
    path("<int:source_id>/pull/", views.pull, name="pull"),
]
