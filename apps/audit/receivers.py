"""Sign-in, sign-out, failed sign-in and two-factor changes enter the trail from signals."""

from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .services import audit_record


@receiver(user_logged_in, dispatch_uid="audit-login")
def _on_login(sender, request, user, **kwargs):
    audit_record(action="auth.login", actor=user, request=request)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        reason = getattr(
            request, "session_end_reason", None
        )  # set by the session-timeout middleware
        audit_record(
            action="auth.logout",
            actor=user,
            request=request,
            details={"reason": f"{reason} timeout"} if reason else None,
        )


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _on_login_failed(sender, credentials, request=None, **kwargs):
    # Name only the identifier that was tried; the credentials dict also holds the password.
    tried = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_record(
        action="auth.login_failed", request=request, actor_repr=tried, details={"identifier": tried}
    )


# Recovery codes are generated alongside the first authenticator: recording them too would
# make one "enable two-factor" action two events.
_SILENT_TYPES = {"recovery_codes"}


@receiver(authenticator_added, dispatch_uid="audit-mfa-added")
def _on_mfa_added(sender, request, user, authenticator, **kwargs):
    if authenticator.type not in _SILENT_TYPES:
        audit_record(
            action="mfa.enabled", actor=user, request=request, details={"type": authenticator.type}
        )


@receiver(authenticator_removed, dispatch_uid="audit-mfa-removed")
def _on_mfa_removed(sender, request, user, authenticator, **kwargs):
    if authenticator.type not in _SILENT_TYPES:
        audit_record(
            action="mfa.disabled", actor=user, request=request, details={"type": authenticator.type}
        )
