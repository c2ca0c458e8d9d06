from django.urls import path

from . import views

app_name = "tenants"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/rename/", views.rename, name="rename"),
    path("settings/transfer/", views.transfer, name="transfer"),
    path("settings/delete/", views.delete, name="delete"),
    path("settings/sso/", views.sso_update, name="sso"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("invitations/", views.invite, name="invite"),
    path("invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
]
