"""Run pages: list, start (with the cost guard), detail with live progress, cancel, re-run."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.detectors.services import detector_config_automatic
from apps.tenants.access import tenant_view
from apps.tenants.permissions import CREATE

from .forms import AUTO, RunFilterForm, StartRunForm
from .models import Run
from .selectors import get_run_for_member
from .services import RunStateError, run_cancel, run_rerun, run_start

PAGE_SIZE = 25


def _to_run(request: HttpRequest, run: Run) -> HttpResponse:
    url = run.url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@tenant_view
def list(request: HttpRequest) -> HttpResponse:  # noqa: A001 - the URL name base.html uses
    form = RunFilterForm(request.GET or None, tenant=request.tenant)
    runs = form.filter(
        Run.objects.for_tenant(request.tenant).select_related(
            "dataset_version__dataset", "detector_version__config", "created_by"
        )
    )
    page = Paginator(runs.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    template = "runs/list.html" + ("#run-list" if request.htmx else "")
    return render(request, template, {"form": form, "page": page, "query": query.urlencode()})


@tenant_view(perm=CREATE)
def start(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = StartRunForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            data = form.cleaned_data
            scoring = data.get("scoring_model")
            if scoring is not None:
                detector_version = scoring.detector_version
                analysis = form.scoring_analysis
            else:
                config = data["detector"]
                if config == AUTO:
                    config = detector_config_automatic(
                        tenant=request.tenant, user=request.user, request=request
                    )
                detector_version = config.current
                analysis = Run.Analysis.TIMESERIES if data["analysis"] else Run.Analysis.TABLE
            try:
                run = run_start(
                    tenant=request.tenant,
                    user=request.user,
                    dataset_version=data["dataset_version"],
                    detector_version=detector_version,
                    label_column=data["label_column"],
                    max_fit_rows=data["max_fit_rows"],
                    train_label_column=data["train_label_column"],
                    request=request,
                    analysis=analysis,
                    analysis_options=form.resolved_options,
                    base_model=data.get("base_model"),
                    scoring_model=scoring,
                )
            except RunStateError as exc:
                field = (
                    "scoring_model" if scoring else "base_model" if data.get("base_model") else None
                )
                form.add_error(field, str(exc))
            else:
                messages.success(request, f"Run #{run.pk} queued.")
                return _to_run(request, run)
    else:
        form = StartRunForm(initial=request.GET.dict(), tenant=request.tenant)
    template = "runs/start.html" + (
        "#run-preflight" if request.htmx and request.method == "GET" else ""
    )
    status = 400 if form.is_bound and form.errors else 200
    return render(request, template, {"form": form, "cost": form.cost()}, status=status)


@tenant_view
def detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    context = {
        "run": run,
        "tenant": request.tenant,
        "results_url": run.url("results"),
        "oob": False,
        "onnx_url": _onnx_url(request, run),
        "trained_model": _trained_model(request, run),
    }
    template = "runs/run_detail.html"
    if request.htmx and request.htmx.target in ("run-actions", "run-progress"):
        template += "#" + request.htmx.target
    return render(request, template, context)


def _trained_model(request: HttpRequest, run: Run):
    """The model the run saved (tabular, deep, graph or time series); None without one."""
    from apps.detectors.models import TrainedModel

    if run.status != Run.Status.SUCCEEDED:
        return None
    return TrainedModel.objects.for_tenant(request.tenant).filter(run=run).first()


def _onnx_url(request: HttpRequest, run: Run) -> str | None:
    """The "Download ONNX" link of the run's trained model; None when it has none or cannot export."""
    from django.urls import reverse

    from apps.detectors.models import TrainedModel
    from pynomaly.onnx_export import exportable_keys

    if run.status != Run.Status.SUCCEEDED:
        return None
    model = TrainedModel.objects.for_tenant(request.tenant).filter(run=run).only("pk").first()
    if model is None or exportable_keys(run.detector_version.detector_keys):
        return None
    return reverse(
        "detectors:model_onnx", kwargs={"tenant_slug": request.tenant.slug, "model_id": model.pk}
    )


@require_POST
@tenant_view(perm=CREATE)
def cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    try:
        run = run_cancel(run=run, user=request.user, request=request)
    except RunStateError as exc:
        messages.warning(request, str(exc))
    else:
        done = run.status == Run.Status.CANCELLED
        messages.success(
            request,
            "Run cancelled."
            if done
            else "Cancellation requested: the run stops at its next chunk.",
        )
    return _to_run(request, run)


@require_POST
@tenant_view(perm=CREATE)
def rerun(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    new = run_rerun(run=run, user=request.user, request=request)
    messages.success(request, f"Run #{new.pk} queued with the same inputs as run #{run.pk}.")
    return _to_run(request, new)
