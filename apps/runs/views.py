from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.tenants.access import tenant_view


@tenant_view
def list(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/list.html", {})
