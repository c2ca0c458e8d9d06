from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects to monitors.signals.execution_finished)
