"""The workspace's MLflow setting form; the rules themselves are in services.setting_save."""

from __future__ import annotations

from django import forms

from .models import MlflowSetting


class MlflowSettingForm(forms.Form):
    enabled = forms.BooleanField(
        required=False,
        label="Log this workspace's runs to this server",
        help_text="Off: the server's own MLFLOW_TRACKING_URI applies again (if it has one).",
    )
    tracking_uri = forms.CharField(
        required=False,
        max_length=500,
        label="Tracking URI",
        widget=forms.TextInput(attrs={"placeholder": "https://mlflow.example.com"}),
    )
    auth = forms.ChoiceField(choices=MlflowSetting.Auth.choices, label="Credentials")
    username = forms.CharField(required=False, max_length=255, label="Username")
    secret = forms.CharField(
        required=False,
        max_length=4000,
        label="Password or token",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, setting: MlflowSetting | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if setting is not None and setting.secret_set:
            # Never shown back: the field stays empty, and empty keeps the stored secret.
            self.fields["secret"].widget.attrs["placeholder"] = "•••• stored"
            self.fields[
                "secret"
            ].help_text = "•••• stored — leave blank to keep it; changing the kind of credential needs a new one."
