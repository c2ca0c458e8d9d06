"""Sign-in, sign-out and failed sign-in enter the trail from Django's auth signals."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .services import audit_record


@receiver(user_logged_in, dispatch_uid="audit-login")
def _on_login(sender, request, user, **kwargs):
    audit_record(action="auth.login", actor=user, request=request)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action="auth.logout", actor=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _on_login_failed(sender, credentials, request=None, **kwargs):
    # Name only the identifier that was tried; the credentials dict also holds the password.
    tried = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_record(action="auth.login_failed", request=request, actor_repr=tried, details={"identifier": tried})
