"""Detector pages: the catalogue, one detector's parameters, and named configurations."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.tenants.access import get_scoped_or_404, tenant_view
from apps.tenants.permissions import CREATE
from pynomaly import catalogue
from pynomaly.errors import UnknownDetector

from .forms import DetectorConfigForm, initial_from_pipeline, initial_from_query
from .models import DetectorConfig, TrainedModel
from .services import detector_config_create, detector_config_update


def get_config_for_member(request: HttpRequest, config_id: int) -> DetectorConfig:
    """The configuration if it belongs to the request's tenant; 404 otherwise."""
    return get_scoped_or_404(request, DetectorConfig.objects, pk=config_id)


def _filtered_detectors(request: HttpRequest) -> tuple[list, dict]:
    q = request.GET.get("q", "").strip()
    family = request.GET.get("family", "")
    available_only = request.GET.get("available") in ("1", "on", "true")
    specs = catalogue.list_detectors(
        family=family or None, available=True if available_only else None
    )
    if q:
        needle = q.lower()
        specs = [
            s
            for s in specs
            if any(
                needle in text.lower()
                for text in (s.key, s.short_name, s.name, s.description, s.family, *s.strengths)
            )
        ]
    return specs, {"q": q, "family": family, "available": available_only}


@tenant_view
def catalogue_page(request: HttpRequest) -> HttpResponse:
    specs, filters = _filtered_detectors(request)
    template = "detectors/catalogue.html" + ("#detector-list" if request.htmx else "")
    context = {
        "specs": specs,
        "filters": filters,
        "families": catalogue.families(),
        "total": len(catalogue.list_detectors()),
        "configs": DetectorConfig.objects.for_tenant(request.tenant).prefetch_related("versions"),
    }
    return render(request, template, context)


@tenant_view
def detector_detail(request: HttpRequest, key: str) -> HttpResponse:
    try:
        spec = catalogue.get_detector(key)
    except UnknownDetector:
        raise Http404("No such detector.") from None
    return render(request, "detectors/detector_detail.html", {"spec": spec})


@tenant_view
def config_list(request: HttpRequest) -> HttpResponse:
    configs = DetectorConfig.objects.for_tenant(request.tenant).prefetch_related("versions")
    return render(request, "detectors/config_list.html", {"configs": configs})


@tenant_view
def config_detail(request: HttpRequest, config_id: int) -> HttpResponse:
    config = get_config_for_member(request, config_id)
    versions = config.versions.select_related("created_by").order_by("-number")
    return render(request, "detectors/config_detail.html", {"config": config, "versions": versions})


def _config_form_page(request: HttpRequest, config: DetectorConfig | None) -> HttpResponse:
    refresh = request.method == "POST" and "_refresh" in request.POST
    if request.method == "POST" and not refresh:
        form = DetectorConfigForm(request.POST, tenant=request.tenant, config=config)
        if form.is_valid():
            data = form.cleaned_data
            if config is None:
                config = detector_config_create(
                    tenant=request.tenant,
                    user=request.user,
                    name=data["name"],
                    description=data["description"],
                    pipeline=data["pipeline"],
                    request=request,
                )
                messages.success(request, f"Configuration “{config.name}” created.")
            else:
                version = detector_config_update(
                    config=config,
                    user=request.user,
                    name=data["name"],
                    description=data["description"],
                    pipeline=data["pipeline"],
                    request=request,
                )
                messages.success(request, f"Saved as version {version.number}.")
            return redirect(
                "detectors:config_detail", tenant_slug=request.tenant.slug, config_id=config.pk
            )
    elif refresh:  # "Update parameters" without JavaScript: re-render for the new algorithm
        form = DetectorConfigForm(
            initial=initial_from_query(request.POST), tenant=request.tenant, config=config
        )
    else:
        initial = (
            initial_from_pipeline(config.current.pipeline, config)
            if config and config.current
            else {}
        )
        initial.update(initial_from_query(request.GET))
        form = DetectorConfigForm(initial=initial, tenant=request.tenant, config=config)
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "detectors/config_form.html", {"form": form, "config": config}, status=status
    )


@tenant_view(perm=CREATE)
def config_create(request: HttpRequest) -> HttpResponse:
    return _config_form_page(request, None)


@tenant_view(perm=CREATE)
def config_edit(request: HttpRequest, config_id: int) -> HttpResponse:
    return _config_form_page(request, get_config_for_member(request, config_id))


@tenant_view(perm=CREATE)
def config_params(request: HttpRequest) -> HttpResponse:
    """The parameter fields for the chosen algorithm(s): the form's HTMX partial."""
    form = DetectorConfigForm(initial=initial_from_query(request.GET), tenant=request.tenant)
    return render(request, "detectors/config_form.html#detector-params", {"form": form})


@tenant_view  # any member (viewers too), like the results downloads
@require_GET
def model_onnx(request: HttpRequest, model_id: int) -> HttpResponse:
    """The trained model as an ``.onnx`` file for ``pynomaly-edge`` (409 when it cannot go)."""
    from pynomaly.errors import ArtifactError
    from pynomaly.onnx_export import NotExportable

    from .export import export_onnx_bytes, onnx_filename

    model = get_scoped_or_404(request, TrainedModel.objects.all(), pk=model_id)
    try:
        data = export_onnx_bytes(model)
    except (NotExportable, ArtifactError) as exc:
        return HttpResponse(
            f"Model #{model.pk} cannot be exported as ONNX: {exc}",
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{onnx_filename(model)}"'
    return response
