from django import forms

from .models import Scope
from .services import MAX_EXPIRY_DAYS


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. “nightly export”."
    )
    scope = forms.ChoiceField(choices=Scope.choices, initial=Scope.READ)
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        initial=90,
        label="Expires after (days)",
        help_text="Blank: never expires.",
    )
