from django.urls import path

from apps.tenants.consumers import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/t/<slug:tenant_slug>/notifications/", NotificationsConsumer.as_asgi()),
]
