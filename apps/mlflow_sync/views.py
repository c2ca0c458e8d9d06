"""Register a trained model in MLflow's model registry from the browser."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.detectors.models import TrainedModel
from apps.tenants.access import get_scoped_or_404, tenant_view
from apps.tenants.permissions import CREATE

from . import services
from .models import MlflowSync


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
