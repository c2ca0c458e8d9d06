"""Forms for starting runs and filtering the run list."""

from __future__ import annotations

from django import forms

from apps.datasets.models import Dataset, DatasetVersion
from apps.detectors.models import DetectorConfig, TrainedModel
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


class BaseModelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: TrainedModel) -> str:
        keys = " + ".join(obj.detector_version.detector_keys)
        return f"Model #{obj.pk} ({keys}, run #{obj.run_id}, {obj.detector_version})"


class StartRunForm(forms.Form):
    dataset_version = VersionChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset")
    detector = DetectorChoiceField(
        queryset=DetectorConfig.objects.none(),
        required=False,
        label="Detector configuration",
        help_text="Runs the configuration's current version; Automatic chooses for you.",
    )
    scoring_model = BaseModelChoiceField(
        queryset=TrainedModel.objects.none(),
        required=False,
        label="Or score with a trained model",
        empty_label="— fit the detector on this dataset —",
        help_text="No fit: the model scores every row (a time-series model reads the series "
        "it was trained on). The dataset needs the columns the model reads.",
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
    base_model = BaseModelChoiceField(
        queryset=TrainedModel.objects.none(),
        required=False,
        label="Fine-tune from (optional, AutoEncoder / VAE)",
        empty_label="— train from scratch —",
        help_text="Start from this trained model's network (same detector and columns) and "
        "train it further on this dataset for the configuration's epochs.",
    )
    accept_cost = forms.BooleanField(
        required=False, label="Start anyway, I accept the estimated cost"
    )
    # Time series (shown when the dataset has a time column): apps.runs.ts_rules checks them.
    analysis = forms.BooleanField(
        required=False,
        label="Analyse as time series",
        help_text="Score each point of one or many series in time order, with intervals.",
    )
    time_column = forms.ChoiceField(required=False, label="Time column")
    value_columns = forms.MultipleChoiceField(
        required=False,
        label="Value columns",
        help_text="None chosen: every numeric column. Several make one multivariate series.",
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    id_column = forms.ChoiceField(
        required=False,
        label="Series id column (optional)",
        help_text="One series per value of this column (sensors, machines, stores).",
    )
    window = forms.IntegerField(
        required=False,
        min_value=2,
        max_value=2000,
        label="Window (points, optional)",
        help_text="Blank: the detector configuration's window.",
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
        if version is not None and version.is_graph and not self._raw("detector"):
            # A graph dataset: offer a graph detector's configuration first.
            from .graphs import first_graph_config

            self.initial["detector"] = first_graph_config(self.fields["detector"].queryset)
        columns = version.column_names if version else []
        skip = {version.time_column} if version and version.time_column else set()
        self.fields["label_column"].choices = [("", "— none —")] + [
            (c, c) for c in columns if c not in skip
        ]
        self.fields["train_label_column"].choices = self.fields["label_column"].choices
        from pynomaly.deep import FINE_TUNABLE

        tunable = [
            m.pk
            for m in TrainedModel.objects.for_tenant(tenant)
            .select_related("detector_version")
            .order_by("-pk")[:200]
            if m.detector_version.detector_keys
            and all(k in FINE_TUNABLE for k in m.detector_version.detector_keys)
        ]
        self.fields["base_model"].queryset = (
            TrainedModel.objects.for_tenant(tenant)
            .filter(pk__in=tunable)
            .select_related("detector_version")
            .order_by("-pk")
        )
        self.fields["scoring_model"].queryset = (
            TrainedModel.objects.for_tenant(tenant)
            .select_related("detector_version", "run")
            .order_by("-pk")
        )
        self._time_series_choices(version, columns)

    def _time_series_choices(self, version, columns) -> None:
        from .ts_rules import datetime_columns, numeric_columns

        times = datetime_columns(version) if version else []
        self.offers_time_series = bool(times)
        self.fields["time_column"].choices = [(c, c) for c in times]
        numeric = numeric_columns(version) if version else []
        self.fields["value_columns"].choices = [(c, c) for c in numeric if c not in times]
        self.fields["id_column"].choices = [("", "— one series —")] + [
            (c, c) for c in columns if c not in times
        ]

    def analysis_options(self) -> dict:
        """The run's ``analysis_options`` from the cleaned time-series fields."""
        data = self.cleaned_data
        return {
            "time_column": data.get("time_column") or "",
            "value_columns": list(data.get("value_columns") or ()),
            "id_column": data.get("id_column") or None,
            "window": data.get("window"),
        }

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
        if self._raw("analysis") and self._raw("analysis") not in ("false", "0", "off"):
            return self._series_cost(version, pipeline)
        return cost_for(
            version,
            pipeline,
            max_fit_rows=self.chosen_max_fit_rows(),
            label_column=self._raw("label_column") or "",
            train_label_column=self._raw("train_label_column") or "",
        )

    def _series_cost(self, version, pipeline) -> CostEstimate | None:
        from .ts_rules import check
        from .ts_rules import cost as series_cost

        raw = self.data if self.is_bound else self.initial
        getlist = getattr(raw, "getlist", None)
        options = {
            "time_column": raw.get("time_column") or "",
            "value_columns": getlist("value_columns") if getlist else raw.get("value_columns"),
            "id_column": raw.get("id_column") or None,
            "window": raw.get("window") or None,
        }
        label = raw.get("label_column") or ""
        resolved, errors = check(version, pipeline, options, exclude=(label,))
        return None if errors else series_cost(version, pipeline, resolved)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        from apps.detectors.models import DetectorConfigVersion

        if data.get("scoring_model") is not None:
            return self._clean_scoring(data)
        detector = data.get("detector")
        if not detector:
            self.add_error("detector", "Choose a detector configuration or a trained model.")
            return data
        version = (
            DetectorConfigVersion(pipeline=self.chosen_pipeline())
            if detector == AUTO
            else detector.current
        )
        self.resolved_options: dict = self.analysis_options() if data.get("analysis") else {}
        if data.get("analysis") and detector == AUTO:
            self.add_error("detector", "Choose a time-series detector configuration.")
            return data
        try:
            run_start_check(
                dataset_version=data["dataset_version"],
                detector_version=version,
                label_column=data.get("label_column") or "",
                max_fit_rows=data.get("max_fit_rows"),
                accept_cost=bool(data.get("accept_cost")),
                train_label_column=data.get("train_label_column") or "",
                analysis="timeseries" if data.get("analysis") else "table",
                analysis_options=self.resolved_options,
            )
        except RunInvalid as exc:
            for field, message in exc.errors:
                self.add_error(field if field in self.fields else None, message)
        return data

    def _clean_scoring(self, data: dict) -> dict:
        """A run that scores with a trained model: its detector version, and for a
        time-series model the series it was trained on (``resolved_options``)."""
        from .services import RunStateError, scoring_inputs

        model = data["scoring_model"]
        self.scoring_detector_version = model.detector_version
        if data.get("base_model") is not None:
            self.add_error("scoring_model", "A run scores with a model or fine-tunes one.")
            return data
        analysis = "timeseries" if data.get("analysis") else "table"
        try:
            analysis, options = scoring_inputs(
                model,
                self.tenant,
                data["dataset_version"],
                analysis,
                self.analysis_options() if data.get("analysis") else {},
            )
        except RunStateError as exc:
            self.add_error("scoring_model", str(exc))
            return data
        self.scoring_analysis = analysis
        self.resolved_options = dict(options or {})
        try:
            run_start_check(
                dataset_version=data["dataset_version"],
                detector_version=model.detector_version,
                label_column=data.get("label_column") or "",
                accept_cost=bool(data.get("accept_cost")),
                analysis=analysis,
                analysis_options=self.resolved_options,
            )
        except RunInvalid as exc:
            for field, message in exc.errors:
                self.add_error(field if field in self.fields else None, message)
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
