from django.urls import path

from . import views

app_name = "detectors"

urlpatterns = [
    path("", views.catalogue_page, name="catalogue"),
    path("algorithms/<slug:key>/", views.detector_detail, name="detail"),
    path("configs/", views.config_list, name="configs"),
    path("configs/new/", views.config_create, name="config_create"),
    path("configs/params/", views.config_params, name="config_params"),
    path("configs/<int:config_id>/", views.config_detail, name="config_detail"),
    path("configs/<int:config_id>/edit/", views.config_edit, name="config_edit"),
    path("models/<int:model_id>.onnx", views.model_onnx, name="model_onnx"),
]
