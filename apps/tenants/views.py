"""Workspace pages: dashboard, settings (members, invitations, roles), rename, transfer, delete."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import services, sso
from .access import tenant_view
from .forms import (
    DeleteTenantForm,
    InvitationForm,
    RoleForm,
    SsoPolicyForm,
    TenantNameForm,
    TransferForm,
)
from .models import Invitation, Membership, Role
from .permissions import MANAGE, OWN, role_matrix

# Mail that never leaves the server: the console (make run's default) or Django's test outbox.
LOCAL_MAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "the console it runs in",
    "django.core.mail.backends.locmem.EmailBackend": "an in-memory outbox",
}
_SENT_LINK = "tenants:invitation_link"  # session key: the link, for the admin who sent it


def mail_stays_local() -> bool:
    return settings.EMAIL_BACKEND in LOCAL_MAIL_BACKENDS


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
    from apps.dashboard.views import home  # the overview reads every app above this one

    return home(request)


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
        "sso_form": _sso_form(request),
        # shown once, in the session of the admin who sent it (see invite)
        "sent_link": request.session.pop(f"{_SENT_LINK}:{request.tenant.pk}", None),
    }
    return render(request, "tenants/settings.html", context)


def _sso_form(request: HttpRequest) -> SsoPolicyForm:
    policy = sso.policy_for(request.tenant)
    initial = {
        "connection": policy.connection,
        "required": policy.required,
        "groups_claim": policy.groups_claim,
        "default_role": policy.default_role,
        "mappings": sso.mappings_text(request.tenant),
    }
    return SsoPolicyForm(initial=initial, connections=sso.configured_connections())


@require_POST
@tenant_view(perm=MANAGE)
def sso_update(request: HttpRequest) -> HttpResponse:
    form = SsoPolicyForm(request.POST, connections=sso.configured_connections())
    if not form.is_valid():
        messages.error(request, "Choose a configured connection and a known role.")
        return _back(request)
    data = form.cleaned_data
    _run(
        request,
        lambda: sso.sso_policy_update(
            tenant=request.tenant,
            connection=data["connection"],
            required=data["required"],
            groups_claim=data["groups_claim"],
            default_role=data["default_role"],
            mappings=data["mappings"],
            actor=request.user,
            request=request,
        ),
        "Single sign-on settings saved.",
    )
    return _back(request)


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
    created: list[str] = []

    def send() -> None:
        _, token = services.invitation_create(
            tenant=request.tenant,
            email=email,
            role=form.cleaned_data["role"],
            actor=request.user,
            request=request,
        )
        created.append(token)

    if _run(request, send, f"Invitation sent to {email}.") and mail_stays_local():
        # the mail goes to the server's console only: show the link to its sender instead
        path = reverse("invitation_accept", kwargs={"token": created[0]})
        request.session[f"{_SENT_LINK}:{request.tenant.pk}"] = {
            "email": email,
            "link": request.build_absolute_uri(path),
            "where": LOCAL_MAIL_BACKENDS[settings.EMAIL_BACKEND],
            "days": settings.INVITATION_MAX_AGE_DAYS,
        }
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
