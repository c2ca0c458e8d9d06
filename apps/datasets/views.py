"""Dataset pages: thin views over services.py and selectors.py."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from apps.tenants.access import get_scoped_or_404, tenant_view
from apps.tenants.permissions import CREATE

from .forms import UploadForm
from .models import Dataset, DatasetVersion
from .selectors import (
    dataset_delete_blocker,
    datasets_for_list,
    latest_upload,
    preview_page,
    profile_table,
)
from .services import DatasetInUse, UploadRefused, dataset_delete, dataset_upload, upload_refused
from .uploads import too_large_message


def get_dataset_for_member(request: HttpRequest, pk: int) -> Dataset:
    """The dataset if it belongs to the request's tenant; 404 otherwise (never 403)."""
    return get_scoped_or_404(request, Dataset.objects, pk=pk)


def get_version_for_member(request: HttpRequest, pk: int, number: int) -> DatasetVersion:
    qs = DatasetVersion.objects.select_related("dataset", "created_by")
    return get_scoped_or_404(request, qs, dataset_id=pk, number=number)


def _url(request: HttpRequest, name: str, *args) -> str:
    return reverse(f"datasets:{name}", args=[request.tenant.slug, *args])


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _page_number(request: HttpRequest) -> int:
    try:
        return int(request.GET.get("page", 1))
    except ValueError:
        return 1


def _detail_context(dataset: Dataset, version: DatasetVersion | None, page_number: int = 1) -> dict:
    return {
        "dataset": dataset,
        "version": version,
        "versions": dataset.versions.select_related("created_by").order_by("-number"),
        "upload": latest_upload(dataset),
        "profile": profile_table(version) if version else None,
        "page": preview_page(version, page_number) if version else None,
    }


@tenant_view
def list(request: HttpRequest) -> HttpResponse:  # noqa: A001 - "list" is the URL name base.html uses
    return render(request, "datasets/list.html", {"datasets": datasets_for_list(request.tenant)})


@tenant_view(perm=CREATE)
def upload(request: HttpRequest) -> HttpResponse:
    bound = request.method == "POST"
    form = UploadForm(
        request.POST if bound else None,
        request.FILES if bound else None,
        initial={"name": request.GET.get("name", "")},
    )
    if getattr(request, "upload_too_large", False):  # set by LimitedUploadHandler while parsing
        return _too_large(request, form)
    status = 400 if bound else 200
    if bound and form.is_valid():
        try:
            up = dataset_upload(
                tenant=request.tenant,
                user=request.user,
                uploaded_file=form.cleaned_data["file"],
                name=form.cleaned_data["name"],
                request=request,
                edges_file=form.cleaned_data.get("edges"),
            )
        except UploadRefused as exc:
            form.add_error("file", exc.message)
            status = REFUSAL_STATUS.get(exc.code, 400)
        else:
            messages.success(request, f"Received {up.original_name}; it is being ingested.")
            return _redirect(request, _url(request, "detail", up.dataset_id))
    template = "datasets/upload.html" + ("#upload-form" if request.htmx else "")
    return render(request, template, {"form": form}, status=status)


# Bad content is 400; over the byte limit 413; readable but over a dataset limit 422.
REFUSAL_STATUS = {"too_large": 413, "limit": 422}


def _too_large(request: HttpRequest, form: UploadForm) -> HttpResponse:
    for files in request.FILES.lists():  # partial temp files: close (and so delete) them now
        for f in files[1]:
            f.close()
    message = too_large_message()
    upload_refused(
        tenant=request.tenant,
        user=request.user,
        filename="",
        name=request.POST.get("name", ""),
        message=message,
        reason="too_large",
        request=request,
    )
    form = UploadForm(initial={"name": request.POST.get("name", "")})
    template = "datasets/upload.html" + ("#upload-form" if request.htmx else "")
    response = render(request, template, {"form": form, "upload_error": message}, status=413)
    response["Connection"] = "close"  # the rest of the body was never read
    return response


@tenant_view
def detail(request: HttpRequest, pk: int, number: int | None = None) -> HttpResponse:
    dataset = get_dataset_for_member(request, pk)
    version = get_version_for_member(request, pk, number) if number else dataset.latest_version
    return render(request, "datasets/detail.html", _detail_context(dataset, version))


@tenant_view
def preview(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    version = get_version_for_member(request, pk, number)
    template = "datasets/detail.html"
    if request.htmx:
        template += "#preview"
        context = {
            "dataset": version.dataset,
            "version": version,
            "page": preview_page(version, _page_number(request)),
        }
    else:
        context = _detail_context(version.dataset, version, _page_number(request))
    return render(request, template, context)


@tenant_view
def status(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset_for_member(request, pk)
    if not request.htmx:
        return redirect(_url(request, "detail", pk))
    if dataset.status != Dataset.Status.INGESTING:
        return HttpResponseClientRefresh()  # the whole page changes: profile, preview, versions
    return render(
        request,
        "datasets/detail.html#dataset-status",
        {"dataset": dataset, "upload": latest_upload(dataset)},
    )


@tenant_view
def download(request: HttpRequest, pk: int, number: int) -> FileResponse:
    version = get_version_for_member(request, pk, number)
    return FileResponse(
        version.original.open("rb"), as_attachment=True, filename=version.original_name
    )


@tenant_view(perm=CREATE)
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset_for_member(request, pk)
    blocker = dataset_delete_blocker(dataset)
    if request.method == "POST" and not blocker:
        try:
            dataset_delete(dataset=dataset, user=request.user, request=request)
        except DatasetInUse as exc:
            blocker = exc.message
        else:
            messages.success(request, f"Deleted {dataset.name} and all its versions.")
            return _redirect(request, _url(request, "list"))
    status_code = 409 if request.method == "POST" else 200
    return render(
        request,
        "datasets/delete.html",
        {"dataset": dataset, "blocker": blocker},
        status=status_code,
    )
