from django.apps import AppConfig


class DetectorsConfig(AppConfig):
    name = "apps.detectors"
    label = "detectors"
