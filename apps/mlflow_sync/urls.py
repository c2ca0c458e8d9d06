from django.urls import path

from . import views

app_name = "mlflow_sync"

urlpatterns = [
    path("<int:model_id>/register/", views.register, name="register"),
]
