"""The verdict form: what the table's buttons and the row page post (also without JavaScript)."""

from __future__ import annotations

from django import forms

from .models import Kind
from .services import MAX_NOTE


class VerdictForm(forms.Form):
    # "" clears the row's verdict.
    verdict = forms.ChoiceField(choices=[("", "Clear"), *Kind.choices], required=False)
    note = forms.CharField(required=False, max_length=MAX_NOTE, strip=True)
    uuid = forms.UUIDField(required=False)
    made_at = forms.DateTimeField(required=False)
