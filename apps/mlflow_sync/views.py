"""Register a trained model in MLflow's model registry from the browser; the workspace's MLflow setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.detectors.models import TrainedModel
from apps.tenants.access import get_scoped_or_404, tenant_view
from apps.tenants.permissions import CREATE, MANAGE

from . import services
from .forms import MlflowSettingForm
from .models import MlflowSetting, MlflowSync

if TYPE_CHECKING:
    from apps.alerts.requests import TenantRequest


@tenant_view(perm=CREATE)
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest, model_id: int) -> HttpResponse:
    """A small form: the registered model's name; errors re-render it with their status."""
    model = get_scoped_or_404(
        request, TrainedModel.objects.select_related("run", "tenant"), pk=model_id
    )
    sync = MlflowSync.objects.filter(tenant_id=model.tenant_id, run_id=model.run_id).first()
    name = request.POST.get("name", "") if request.method == "POST" else ""
    logged = sync is not None and sync.status == MlflowSync.Status.LOGGED
    error, status = "", 200
    if request.method == "POST":
        if sync is None or not logged:
            error, status = (
                "This model's run is not logged to MLflow, so it cannot be registered.",
                409,
            )
        else:
            try:
                services.register(sync, name=name, user=request.user, request=request)
            except services.RegisterRefused as exc:
                error, status = str(exc), 422
            except services.MlflowUnavailable as exc:
                error, status = f"MLflow did not register the model: {exc}", 503
            else:
                messages.success(
                    request,
                    f"Model #{model.pk} registered in MLflow as {sync.registered_name} "
                    f"version {sync.registered_version}.",
                )
                kwargs = {"tenant_slug": model.tenant.slug, "run_id": model.run_id}
                return redirect(reverse("runs:detail", kwargs=kwargs))
    context = {"model": model, "sync": sync, "logged": logged, "error": error,
               "name": name or (sync.registered_name if sync else "")}  # fmt: skip
    return render(request, "mlflow_sync/register.html", context, status=status)


@tenant_view(perm=MANAGE)
@require_http_methods(["GET", "POST"])
def workspace_setting(request: TenantRequest) -> HttpResponse:
    """Admins: the workspace's own MLflow server; a refused form re-renders with 422."""
    tenant = request.tenant
    setting = services.workspace_setting(tenant.pk)
    status = 200
    if request.method == "POST":
        form = MlflowSettingForm(request.POST, setting=setting)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.setting_save(
                    tenant=tenant,
                    enabled=data["enabled"],
                    tracking_uri=data["tracking_uri"],
                    auth=data["auth"],
                    username=data["username"],
                    secret=data["secret"],
                    actor=request.user,
                    request=request,
                )
            except services.SettingRefused as exc:
                for name, message in exc.errors.items():
                    form.add_error(name if name in form.fields else None, message)
            else:
                messages.success(request, "MLflow setting saved.")
                if request.POST.get("test"):
                    problem = services.setting_test(tenant)
                    if problem:
                        messages.error(request, f"MLflow did not answer: {problem}")
                    else:
                        messages.success(request, "MLflow answered: the connection works.")
                return redirect("mlflow_sync:setting", tenant_slug=tenant.slug)
        status = 422
    else:
        initial = {"enabled": True, "auth": MlflowSetting.Auth.NONE}
        if setting is not None:
            initial = {
                "enabled": setting.enabled,
                "tracking_uri": setting.tracking_uri,
                "auth": setting.auth,
                "username": setting.username,
            }
        form = MlflowSettingForm(initial=initial, setting=setting)
    uri, source = services.uri_in_effect(tenant.pk)
    context = {
        "form": form,
        "setting": setting,
        "in_effect": source,
        # the workspace's own URI is shown; the operator's is only said to exist
        "in_effect_uri": services.redact_uri(uri) if source == services.WORKSPACE else "",
        "environment_set": bool(services.tracking_uri()),
        "local_stores": services.local_stores_allowed(),
    }
    return render(request, "mlflow_sync/setting.html", context, status=status)
