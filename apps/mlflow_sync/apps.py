from django.apps import AppConfig


class MlflowSyncConfig(AppConfig):
    name = "apps.mlflow_sync"
    label = "mlflow_sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - connects the run_finished receiver
