from django.urls import path

from . import views

app_name = "datasets"

urlpatterns = [
    path("", views.list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/status/", views.status, name="status"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/v/<int:number>/", views.detail, name="version"),
    path("<int:pk>/v/<int:number>/preview/", views.preview, name="preview"),
    path("<int:pk>/v/<int:number>/download/", views.download, name="download"),
]
