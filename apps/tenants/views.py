from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .access import tenant_view
from .models import Membership, Role


@tenant_view
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "tenants/dashboard.html", {})


@tenant_view
def settings_page(request: HttpRequest) -> HttpResponse:
    members = Membership.objects.filter(tenant=request.tenant).select_related("user").order_by("user__email")
    return render(request, "tenants/settings.html", {"members": members, "roles": Role.choices})
