from django.urls import path

from . import views_audit as views

app_name = "audit"

urlpatterns = [
    path("t/<slug:tenant_slug>/audit/", views.tenant_console, name="tenant"),  # the tenant's admins
    path("audit/", views.staff_console, name="staff"),  # staff: every tenant
]
