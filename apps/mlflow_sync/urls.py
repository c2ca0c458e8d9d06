from django.urls import path

from . import views

app_name = "mlflow_sync"

# Included at /t/<slug>/: the registry form sits by the models, the setting by the other settings.
urlpatterns = [
    path("mlflow/models/<int:model_id>/register/", views.register, name="register"),
    path("settings/mlflow/", views.workspace_setting, name="setting"),
]
