from django.urls import path

from apps.runs.consumers import RunConsumer
from apps.tenants.consumers import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/t/<slug:tenant_slug>/notifications/", NotificationsConsumer.as_asgi()),
    path("ws/t/<slug:tenant_slug>/runs/<int:run_id>/", RunConsumer.as_asgi()),
]
