from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"

    def ready(self) -> None:
        from . import sessions  # noqa: F401  (stamps the sign-in time into the session)
