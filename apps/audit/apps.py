from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the sign-in/out receivers)
