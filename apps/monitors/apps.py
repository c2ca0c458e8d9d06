from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "apps.monitors"
    label = "monitors"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - connects the signal receivers
