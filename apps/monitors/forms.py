"""The monitor form: what to watch, with which detector, how often, and when to refit."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from apps.datasets.models import Dataset
from apps.detectors.models import DetectorConfig
from apps.sources.models import Source

from .models import Monitor
from .services import MonitorInput, MonitorInvalid, monitor_validate

# Service field names → form field names where they differ.
_FORM_FIELD = {"detector_version": "detector"}


class MonitorForm(forms.Form):
    name = forms.CharField(max_length=200)
    watch = forms.ChoiceField(
        choices=[("dataset", "A dataset's versions"), ("source", "A database source")],
        initial="dataset",
        widget=forms.RadioSelect,
    )
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), required=False)
    source = forms.ModelChoiceField(queryset=Source.objects.none(), required=False)
    detector = forms.ModelChoiceField(
        queryset=DetectorConfig.objects.none(),
        help_text="Executions use its current version; refits too.",
    )
    threshold = forms.FloatField(
        required=False,
        help_text="Flag rows scoring above this; blank: the detector configuration's threshold.",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    schedule = forms.ChoiceField(choices=Monitor.Schedule.choices)
    interval_seconds = forms.IntegerField(
        required=False, min_value=1, label="Every (seconds)", initial=3600
    )
    cron = forms.CharField(
        required=False,
        max_length=100,
        label="Cron (UTC)",
        help_text="minute hour day-of-month month day-of-week, e.g. */15 * * * *",
    )
    retrain = forms.ChoiceField(choices=Monitor.Retrain.choices, label="Refit the model")
    retrain_every = forms.IntegerField(required=False, min_value=1, label="Every N executions")

    def __init__(self, *args, tenant, monitor: Monitor | None = None, **kwargs):
        if monitor is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": monitor.name,
                "watch": "source" if monitor.source_id else "dataset",
                "dataset": monitor.dataset_id,
                "source": monitor.source_id,
                "detector": monitor.detector_version.config_id,
                "threshold": monitor.threshold,
                "schedule": monitor.schedule,
                "interval_seconds": monitor.interval_seconds,
                "cron": monitor.cron,
                "retrain": monitor.retrain,
                "retrain_every": monitor.retrain_every,
            }
        super().__init__(*args, **kwargs)
        self.tenant, self.monitor = tenant, monitor
        choices = {
            "dataset": Dataset.objects.for_tenant(tenant).filter(status=Dataset.Status.READY),
            "source": Source.objects.for_tenant(tenant),
            "detector": DetectorConfig.objects.for_tenant(tenant),
        }
        for name, queryset in choices.items():
            cast(forms.ModelChoiceField, self.fields[name]).queryset = queryset
        self.input: MonitorInput | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        watch = data.get("watch")
        config = data["detector"]
        if config.current is None:
            self.add_error("detector", "This configuration has no version yet.")
            return data
        self.input = MonitorInput(
            name=data["name"],
            source=data.get("source") if watch == "source" else None,
            dataset=data.get("dataset") if watch == "dataset" else None,
            detector_version=config.current,
            threshold=data.get("threshold"),
            schedule=data["schedule"],
            interval_seconds=data.get("interval_seconds"),
            cron=data.get("cron") or "",
            retrain=data["retrain"],
            retrain_every=data.get("retrain_every"),
        )
        try:
            monitor_validate(tenant=self.tenant, data=self.input, monitor=self.monitor)
        except MonitorInvalid as exc:
            for field, message in exc.errors:
                field = _FORM_FIELD.get(field, field)
                if field == "source" and watch == "dataset":
                    field = "dataset"
                self.add_error(field if field in self.fields else None, message)
        return data
