"""Forms for starting runs and filtering the run list."""

from __future__ import annotations

from django import forms

from apps.datasets.models import Dataset, DatasetVersion
from apps.detectors.models import DetectorConfig
from pynomaly.cost import CostEstimate

from .models import Run
from .rules import RunInvalid, cost_for, run_start_check


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: DatasetVersion) -> str:
        return f"{obj.dataset.name} v{obj.number} ({obj.rows:,} rows × {obj.columns} columns)"


AUTO = "auto"
AUTO_LABEL = "Automatic — Pynomaly chooses the detectors"


class DetectorChoiceField(forms.ModelChoiceField):
    """A detector configuration, or "auto": the workspace's Automatic configuration."""

    def to_python(self, value):
        if value == AUTO:
            return AUTO
        return super().to_python(value)

    def validate(self, value):
        if value != AUTO:
            super().validate(value)

    def _get_choices(self):
        return [("", self.empty_label), (AUTO, AUTO_LABEL), *list(super()._get_choices())[1:]]

    choices = property(_get_choices, forms.ChoiceField.choices.fset)


class StartRunForm(forms.Form):
    dataset_version = VersionChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset")
    detector = DetectorChoiceField(
        queryset=DetectorConfig.objects.none(),
        label="Detector configuration",
        help_text="Runs the configuration's current version; Automatic chooses for you.",
    )
    label_column = forms.ChoiceField(
        required=False,
        label="Label column (optional)",
        help_text="Ground truth (1 = anomaly) to evaluate the run against.",
    )
    train_label_column = forms.ChoiceField(
        required=False,
        label="Training labels (optional, Automatic only)",
        help_text="A column with 1 = known anomaly, 0 = known normal, empty = unknown: "
        "Automatic then chooses by them and may train on them.",
    )
    max_fit_rows = forms.IntegerField(
        required=False,
        min_value=2,
        label="Fit on a sample of (rows)",
        help_text="Blank: fit on every row. Scoring always covers every row.",
    )
    accept_cost = forms.BooleanField(
        required=False, label="Start anyway, I accept the estimated cost"
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.fields["dataset_version"].queryset = (
            DatasetVersion.objects.for_tenant(tenant)
            .filter(dataset__status=Dataset.Status.READY)
            .select_related("dataset")
            .order_by("dataset__name", "-number")
        )
        self.fields["detector"].queryset = (
            DetectorConfig.objects.for_tenant(tenant).filter(versions__isnull=False).distinct()
        )
        version = self.chosen_version()
        columns = version.column_names if version else []
        skip = {version.time_column} if version and version.time_column else set()
        self.fields["label_column"].choices = [("", "— none —")] + [
            (c, c) for c in columns if c not in skip
        ]
        self.fields["train_label_column"].choices = self.fields["label_column"].choices

    def _raw(self, name: str):
        return (self.data if self.is_bound else self.initial).get(name)

    def chosen_version(self) -> DatasetVersion | None:
        raw = self._raw("dataset_version")
        if isinstance(raw, DatasetVersion):
            return raw
        try:
            return (
                self.fields["dataset_version"].queryset.filter(pk=int(raw)).first() if raw else None
            )
        except (TypeError, ValueError):
            return None

    def chosen_pipeline(self) -> dict | None:
        """The pipeline that would run: the chosen configuration's, or the Automatic one."""
        from apps.detectors.services import automatic_pipeline

        if self._raw("detector") == AUTO:
            return automatic_pipeline()
        config = self.chosen_config()
        return config.current.pipeline if config is not None and config.current else None

    def chosen_config(self) -> DetectorConfig | None:
        raw = self._raw("detector")
        if isinstance(raw, DetectorConfig):
            return raw
        if raw == AUTO:
            return None
        try:
            return self.fields["detector"].queryset.filter(pk=int(raw)).first() if raw else None
        except (TypeError, ValueError):
            return None

    def chosen_max_fit_rows(self) -> int | None:
        try:
            value = int(self._raw("max_fit_rows") or 0)
        except (TypeError, ValueError):
            return None
        return value if value >= 2 else None

    def cost(self) -> CostEstimate | None:
        """The pre-flight estimate for what is chosen so far (None until both are chosen)."""
        version, pipeline = self.chosen_version(), self.chosen_pipeline()
        if version is None or pipeline is None:
            return None
        return cost_for(
            version,
            pipeline,
            max_fit_rows=self.chosen_max_fit_rows(),
            label_column=self._raw("label_column") or "",
            train_label_column=self._raw("train_label_column") or "",
        )

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        from apps.detectors.models import DetectorConfigVersion

        detector = data["detector"]
        version = (
            DetectorConfigVersion(pipeline=self.chosen_pipeline())
            if detector == AUTO
            else detector.current
        )
        try:
            run_start_check(
                dataset_version=data["dataset_version"],
                detector_version=version,
                label_column=data.get("label_column") or "",
                max_fit_rows=data.get("max_fit_rows"),
                accept_cost=bool(data.get("accept_cost")),
                train_label_column=data.get("train_label_column") or "",
            )
        except RunInvalid as exc:
            for field, message in exc.errors:
                self.add_error(field, message)
        return data


class RunFilterForm(forms.Form):
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(), required=False, empty_label="All datasets"
    )
    detector = forms.ModelChoiceField(
        queryset=DetectorConfig.objects.none(), required=False, empty_label="All detectors"
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *Run.Status.choices], required=False)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = Dataset.objects.for_tenant(tenant).order_by("name")
        self.fields["detector"].queryset = DetectorConfig.objects.for_tenant(tenant).order_by(
            "name"
        )

    def filter(self, runs):
        if not self.is_valid():
            return runs
        data = self.cleaned_data
        if data.get("dataset"):
            runs = runs.filter(dataset_version__dataset=data["dataset"])
        if data.get("detector"):
            runs = runs.filter(detector_version__config=data["detector"])
        if data.get("status"):
            runs = runs.filter(status=data["status"])
        return runs
