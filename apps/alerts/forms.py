"""Forms for channels, rules, snoozing and the alerts filter; the services validate the rest."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from django import forms
from django.utils import timezone

from apps.monitors.models import Monitor
from apps.tenants.models import Role

from .models import Alert, Channel, Match
from .services import ChannelData, Invalid, RuleData

SNOOZE_CHOICES = [("1", "1 hour"), ("4", "4 hours"), ("24", "1 day"), ("168", "1 week")]


def add_service_errors(form: forms.Form, exc: Invalid) -> None:
    """The service's (field, message) pairs onto the form's fields (or its top)."""
    for field, message in exc.errors:
        form.add_error(field if field in form.fields else None, message)


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Channel.Kind.choices)
    enabled = forms.BooleanField(required=False, initial=True)
    recipients = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="E-mail: addresses, one per line or separated by commas.",
    )
    roles = forms.MultipleChoiceField(
        required=False,
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="E-mail: also every member with one of these roles.",
    )
    url = forms.CharField(required=False, max_length=2000, label="Webhook URL")
    format = forms.ChoiceField(choices=Channel.Format.choices, initial=Channel.Format.JSON)

    def __init__(self, *args, channel: Channel | None = None, **kwargs):
        if channel is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": channel.name, "kind": channel.kind, "enabled": channel.enabled,
                "recipients": "\n".join(channel.recipients), "roles": channel.roles,
                "url": channel.url, "format": channel.format,
            }  # fmt: skip
        super().__init__(*args, **kwargs)
        if channel is not None:
            self.fields["kind"].disabled = True

    def data_for_service(self) -> ChannelData:
        d = self.cleaned_data
        raw = d["recipients"].replace(",", "\n").splitlines()
        return ChannelData(
            name=d["name"], kind=d["kind"], enabled=d["enabled"], recipients=raw,
            roles=list(d["roles"]), url=d["url"], format=d["format"],
        )  # fmt: skip


class RuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    min_anomalies = forms.IntegerField(required=False, min_value=1, label="Anomalies at least")
    min_severity = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Max severity at least (0–1)"
    )
    min_flagged_share = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Share of rows flagged at least",
        help_text="e.g. 0.05 for 5 %",
    )
    on_drift = forms.BooleanField(required=False, label="Drift detected")
    on_failure = forms.BooleanField(required=False, label="Execution failed")
    match = forms.ChoiceField(choices=Match.choices, initial=Match.ANY, label="Fire when")
    cooldown_seconds = forms.IntegerField(
        min_value=0,
        initial=3600,
        label="Cool-down (seconds)",
        help_text="While the alert is open, further matches are counted; they notify again after this.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, tenant, rule=None, **kwargs):
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                f: getattr(rule, f)
                for f in ("name", "min_anomalies", "min_severity", "min_flagged_share",
                          "on_drift", "on_failure", "match", "cooldown_seconds", "enabled")
            } | {"channels": list(rule.channels.all())}  # fmt: skip
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelMultipleChoiceField, self.fields["channels"]
        ).queryset = Channel.objects.for_tenant(tenant)

    def data_for_service(self) -> RuleData:
        d = dict(self.cleaned_data)
        channels = d.pop("channels")
        return RuleData(**d, channel_ids=[c.pk for c in channels])


class SnoozeForm(forms.Form):
    hours = forms.TypedChoiceField(choices=SNOOZE_CHOICES, coerce=int, initial="4")

    def until(self):
        return timezone.now() + timedelta(hours=self.cleaned_data["hours"])


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Open and acknowledged"), *Alert.State.choices, ("all", "All")],
    )
    monitor = forms.ModelChoiceField(queryset=Monitor.objects.none(), required=False)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["monitor"]).queryset = Monitor.objects.for_tenant(
            tenant
        )

    def filter(self, qs):
        if not self.is_valid():
            return qs.unresolved()
        state = self.cleaned_data["state"]
        if not state:
            qs = qs.unresolved()
        elif state != "all":
            qs = qs.filter(state=state)
        if self.cleaned_data["monitor"] is not None:
            qs = qs.filter(monitor=self.cleaned_data["monitor"])
        return qs
