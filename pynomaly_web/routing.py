from django.urls import path

from apps.runs.consumers import RunConsumer
from apps.streams.consumers import StreamConsumer
from apps.tenants.consumers import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/t/<slug:tenant_slug>/notifications/", NotificationsConsumer.as_asgi()),
    path("ws/t/<slug:tenant_slug>/runs/<int:run_id>/", RunConsumer.as_asgi()),
    path("ws/t/<slug:tenant_slug>/streams/<int:stream_id>/", StreamConsumer.as_asgi()),
]
