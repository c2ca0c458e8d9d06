from django.urls import path

from . import views

app_name = "streams"

urlpatterns = [
    path("", views.stream_list, name="list"),
    path("new/", views.create, name="create"),
    path("<int:stream_id>/", views.detail, name="detail"),
    path("<int:stream_id>/edit/", views.edit, name="edit"),
    path("<int:stream_id>/delete/", views.delete, name="delete"),
    path("<int:stream_id>/pause/", views.pause, name="pause"),
    path("<int:stream_id>/resume/", views.resume, name="resume"),
    path("<int:stream_id>/rotate-token/", views.rotate_token, name="rotate_token"),
]
