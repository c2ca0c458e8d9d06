from django import forms

from .models import Role
from .services import INVITABLE_ROLES


class TenantNameForm(forms.Form):
    name = forms.CharField(max_length=100, label="Workspace name")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A workspace needs a name.")
        return name


class DeleteTenantForm(forms.Form):
    confirm_name = forms.CharField(max_length=100, label="Type the workspace's name to confirm")

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant

    def clean_confirm_name(self):
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.tenant.name:
            raise forms.ValidationError("That is not the workspace's name.")
        return value


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in INVITABLE_ROLES], initial=Role.ANALYST
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TransferForm(forms.Form):
    membership = forms.IntegerField()
