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


class SsoPolicyForm(forms.Form):
    connection = forms.ChoiceField(label="Sign-in connection", required=False)
    required = forms.BooleanField(
        label="Require single sign-on (password sign-in refused for members)", required=False
    )
    groups_claim = forms.CharField(
        label="Groups claim / attribute", max_length=100, initial="groups", required=False
    )
    default_role = forms.ChoiceField(
        label="Role of a first sign-in matching no group",
        required=False,
        choices=[("", "Do not add them")] + [(r.value, r.label) for r in INVITABLE_ROLES],
    )
    mappings = forms.CharField(
        label="Group → role, one 'group = role' per line",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "pynomaly-admins = admin"}),
    )

    def __init__(self, *args, connections: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["connection"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "None")] + connections
