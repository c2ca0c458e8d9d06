from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        """Every new account starts with a personal workspace it owns."""
        from .services import tenant_create_personal

        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                tenant_create_personal(user=user, request=request)
        return user

    def pre_login(self, request, user, **kwargs):
        """Refuse a sign-in not made through SSO to members of workspaces that require it."""
        from .sso import sso_refuse_sign_in, sso_required_by

        sociallogin = (kwargs.get("signal_kwargs") or {}).get("sociallogin")
        connection = sociallogin.account.provider if sociallogin else None
        tenants = sso_required_by(user, connection)
        if tenants:
            sso_refuse_sign_in(
                user=user,
                tenants=tenants,
                method=f"sso:{connection}" if connection else "password",
                request=request,
            )
            names = ", ".join(t.name for t in tenants)
            messages.error(
                request,
                f"{names} requires single sign-on: use the “Sign in with …” button of its "
                "identity provider instead of a password.",
            )
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)

    def post_login(self, request, user, **kwargs):
        """A sign-in through SSO joins the workspaces bound to that connection."""
        from .sso import sso_provision

        sociallogin = (kwargs.get("signal_kwargs") or {}).get("sociallogin")
        if sociallogin is not None:
            sso_provision(
                user=user,
                connection=sociallogin.account.provider,
                extra_data=sociallogin.account.extra_data,
                request=request,
            )
        return super().post_login(request, user, **kwargs)

    def get_login_redirect_url(self, request):
        """Back to the invitation that sent the visitor to sign in, if any."""
        from .views_invitations import pending_invitation_url

        return pending_invitation_url(request) or super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request):
        from .views_invitations import pending_invitation_url

        return pending_invitation_url(request) or super().get_signup_redirect_url(request)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        """Only the operator's connections (SSO_OIDC_PROVIDERS / SSO_SAML_PROVIDERS): the
        environment is their one source, so no database query on every sign-in page."""
        from allauth.socialaccount.adapter import _build_apps_from_settings

        apps = _build_apps_from_settings(provider=provider, client_id=client_id)
        return [app for provider_apps in apps.values() for app in provider_apps]

    def save_user(self, request, sociallogin, form=None):
        """An account created by a first SSO sign-in also gets its personal workspace."""
        from .services import tenant_create_personal

        with transaction.atomic():
            user = super().save_user(request, sociallogin, form=form)
            tenant_create_personal(user=user, request=request)
        return user
