"""Workspace pages: dashboard, settings (members, invitations, roles), rename, transfer, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import services
from .access import tenant_view
from .forms import DeleteTenantForm, InvitationForm, RoleForm, TenantNameForm, TransferForm
from .models import Invitation, Membership, Role
from .permissions import MANAGE, OWN, role_matrix


def _back(request: HttpRequest) -> HttpResponse:
    return redirect("tenants:settings", tenant_slug=request.tenant.slug)


def _run(request: HttpRequest, action, success: str) -> bool:
    """Call a service; a broken tenancy rule becomes a message instead of an error page."""
    try:
        action()
    except services.TenantRuleError as exc:
        messages.error(request, str(exc))
        return False
    messages.success(request, success)
    return True


@tenant_view
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "tenants/dashboard.html", {})


@tenant_view
def settings_page(request: HttpRequest) -> HttpResponse:
    members = (
        Membership.objects.filter(tenant=request.tenant)
        .select_related("user")
        .order_by("user__email")
    )
    invitations = (
        Invitation.objects.pending().filter(tenant=request.tenant).select_related("invited_by")
    )
    context = {
        "members": members,
        "invitations": invitations,
        "roles": Role.choices,
        "matrix_roles": [Role.VIEWER.label, Role.ANALYST.label, Role.ADMIN.label, Role.OWNER.label],
        "matrix": role_matrix(),
        "rename_form": TenantNameForm(initial={"name": request.tenant.name}),
        "invite_form": InvitationForm(),
    }
    return render(request, "tenants/settings.html", context)


@require_POST
@tenant_view(perm=MANAGE)
def rename(request: HttpRequest) -> HttpResponse:
    form = TenantNameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A workspace needs a name.")
        return _back(request)
    _run(
        request,
        lambda: services.tenant_rename(
            tenant=request.tenant,
            name=form.cleaned_data["name"],
            actor=request.user,
            request=request,
        ),
        "Workspace renamed.",
    )
    return _back(request)


@require_POST
@tenant_view(perm=MANAGE)
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=pk, tenant=request.tenant)
    form = RoleForm(request.POST)
    if form.is_valid():
        _run(
            request,
            lambda: services.membership_set_role(
                membership=membership,
                role=form.cleaned_data["role"],
                actor=request.user,
                request=request,
            ),
            "Role changed.",
        )
    return _back(request)


@require_POST
@tenant_view(perm=MANAGE)
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=pk, tenant=request.tenant)
    removed = _run(
        request,
        lambda: services.membership_remove(
            membership=membership, actor=request.user, request=request
        ),
        "Member removed.",
    )
    if removed and membership.user_id == request.user.pk:
        return redirect("home")  # removed oneself: this workspace is gone for us
    return _back(request)


@require_POST
@tenant_view(perm=MANAGE)
def invite(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid e-mail address and role.")
        return _back(request)
    email = form.cleaned_data["email"]
    _run(
        request,
        lambda: services.invitation_create(
            tenant=request.tenant,
            email=email,
            role=form.cleaned_data["role"],
            actor=request.user,
            request=request,
        ),
        f"Invitation sent to {email}.",
    )
    return _back(request)


@require_POST
@tenant_view(perm=MANAGE)
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=pk, tenant=request.tenant)
    _run(
        request,
        lambda: services.invitation_revoke(
            invitation=invitation, actor=request.user, request=request
        ),
        "Invitation revoked.",
    )
    return _back(request)


@require_POST
@tenant_view(perm=OWN)
def transfer(request: HttpRequest) -> HttpResponse:
    form = TransferForm(request.POST)
    if form.is_valid():
        to = get_object_or_404(
            Membership, pk=form.cleaned_data["membership"], tenant=request.tenant
        )
        _run(
            request,
            lambda: services.tenant_transfer_ownership(
                tenant=request.tenant, to=to, actor=request.user, request=request
            ),
            f"{to.user.email or to.user.get_username()} now owns the workspace; you are an admin.",
        )
    return _back(request)


@tenant_view(perm=OWN)
def delete(request: HttpRequest) -> HttpResponse:
    form = DeleteTenantForm(request.POST or None, tenant=request.tenant)
    if request.method == "POST" and form.is_valid():
        name = request.tenant.name
        if _run(
            request,
            lambda: services.tenant_delete(
                tenant=request.tenant,
                actor=request.user,
                confirm_name=form.cleaned_data["confirm_name"],
                request=request,
            ),
            f"Workspace {name} and all its data were deleted.",
        ):
            return redirect("home")
    return render(
        request, "tenants/delete.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
def create(request: HttpRequest) -> HttpResponse:
    form = TenantNameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tenant = services.tenant_create(
            name=form.cleaned_data["name"], owner=request.user, request=request
        )
        messages.success(request, f"Workspace {tenant.name} created.")
        return redirect("tenants:dashboard", tenant_slug=tenant.slug)
    return render(
        request, "tenants/create.html", {"form": form}, status=400 if form.errors else 200
    )
