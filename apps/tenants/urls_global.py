"""Tenancy URLs outside any one workspace: creating one, accepting an invitation, admin sign-in."""

from django.urls import path

from . import views, views_invitations
from .security import admin_login

urlpatterns = [
    path("workspaces/new/", views.create, name="tenant_create"),
    path("invitations/<str:token>/", views_invitations.accept, name="invitation_accept"),
]

# Mounted before admin.site.urls so it replaces the admin's own (unthrottled) sign-in form.
admin_login_urlpatterns = [path("admin/login/", admin_login, name="admin_login_redirect")]
