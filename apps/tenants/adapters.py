from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        """Every new account starts with a personal workspace it owns."""
        from .services import tenant_create_personal

        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                tenant_create_personal(user=user, request=request)
        return user

    def get_login_redirect_url(self, request):
        """Back to the invitation that sent the visitor to sign in, if any."""
        from .views_invitations import pending_invitation_url

        return pending_invitation_url(request) or super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request):
        from .views_invitations import pending_invitation_url

        return pending_invitation_url(request) or super().get_signup_redirect_url(request)
