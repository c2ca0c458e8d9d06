from django.urls import path

from . import views

app_name = "monitors"

urlpatterns = [
    path("", views.list, name="list"),
    path("new/", views.create, name="create"),
    path("<int:monitor_id>/", views.detail, name="detail"),
    path("<int:monitor_id>/edit/", views.edit, name="edit"),
    path("<int:monitor_id>/pause/", views.pause, name="pause"),
    path("<int:monitor_id>/resume/", views.resume, name="resume"),
    path("<int:monitor_id>/run/", views.run_now, name="run"),
    path("<int:monitor_id>/delete/", views.delete, name="delete"),
]
