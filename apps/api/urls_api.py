from django.urls import path, re_path

from .api import api
from .errors import not_found

urlpatterns = [
    path("v1/", api.urls),
    re_path(r"^.*$", not_found),
]
