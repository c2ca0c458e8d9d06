from django.apps import AppConfig


class ThemeConfig(AppConfig):
    name = "apps.theme"
    label = "theme"
