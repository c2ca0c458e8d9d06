from django.urls import path

from . import views, views_config

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<int:alert_id>/", views.detail, name="detail"),
    path("<int:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:alert_id>/snooze/", views.snooze, name="snooze"),
    path("<int:alert_id>/resolve/", views.resolve, name="resolve"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("channels/", views_config.channels, name="channels"),
    path("channels/<int:channel_id>/", views_config.channel_edit, name="channel_edit"),
    path("channels/<int:channel_id>/rotate/", views_config.channel_rotate, name="channel_rotate"),
    path("channels/<int:channel_id>/delete/", views_config.channel_delete, name="channel_delete"),
    path("monitors/<int:monitor_id>/rules/", views_config.rules, name="rules"),
    path("streams/<int:stream_id>/rules/", views_config.stream_rules, name="stream_rules"),
    path("rules/<int:rule_id>/", views_config.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", views_config.rule_delete, name="rule_delete"),
]
