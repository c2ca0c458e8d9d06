"""Detector configuration form: parameter fields generated from the engine's ParamSpecs."""

from __future__ import annotations

from typing import Any

from django import forms

from pynomaly import catalogue
from pynomaly.errors import UnknownDetector

from .models import DetectorConfig

COMBINE_CHOICES = [
    ("average", "Average of standardised scores"),
    ("maximum", "Maximum"),
    ("aom", "Average of maximums (AOM)"),
    ("moa", "Maximum of averages (MOA)"),
]
SCALING_CHOICES = [
    ("standard", "Standard (mean 0, sd 1)"),
    ("robust", "Robust (median, IQR)"),
    ("none", "None"),
]
THRESHOLD_CHOICES = [
    ("contamination", "Contamination: flag this fraction of rows"),
    ("score", "Fixed score: flag rows scoring above"),
    ("top_k", "Top k: flag the k highest rows"),
    ("auto", "Automatic (let the data decide)"),
]
DEFAULT_ALGORITHM = "iforest"
SEP = "__"


def runnable_detectors() -> list:
    """Every available detector; the supervised one that runs here (DevNet) is among them,
    and a run of it needs a training label column (:mod:`apps.runs.rules`)."""
    return list(catalogue.list_detectors(available=True))


def param_field(spec) -> forms.Field:
    """One form field for a ParamSpec; ranges become HTML min/max, the engine checks them."""
    label = spec.name.replace("_", " ")
    help_text = spec.help
    extra = []
    if spec.minimum is not None or spec.maximum is not None:
        low = "−∞" if spec.minimum is None else f"{spec.minimum:g}"
        high = "∞" if spec.maximum is None else f"{spec.maximum:g}"
        extra.append(f"{'(' if spec.exclusive_minimum else '['}{low}, {high}]")
    if spec.special:
        extra.append("or " + ", ".join(spec.special))
    if spec.nullable:
        extra.append("blank: automatic")
    help_text = " ".join([help_text, *extra]).strip()
    required = not spec.nullable
    initial = "" if spec.default is None else spec.default
    if spec.kind == "bool":
        return forms.BooleanField(
            label=label, required=False, initial=bool(spec.default), help_text=help_text
        )
    if spec.kind == "choice":
        return forms.ChoiceField(
            label=label,
            choices=[(c, str(c)) for c in spec.choices or ()],
            initial=spec.default,
            help_text=help_text,
        )
    if spec.kind in ("int", "float") and not spec.special:
        attrs: dict[str, Any] = {"step": "1" if spec.kind == "int" else "any"}
        if spec.minimum is not None:
            attrs["min"] = spec.minimum
        if spec.maximum is not None:
            attrs["max"] = spec.maximum
        field_class = forms.IntegerField if spec.kind == "int" else forms.FloatField
        return field_class(
            label=label,
            required=required,
            initial=initial,
            help_text=help_text,
            widget=forms.NumberInput(attrs=attrs),
        )
    return forms.CharField(label=label, required=required, initial=initial, help_text=help_text)


class DetectorConfigForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    algorithm = forms.ChoiceField(label="Detector")
    ensemble_with = forms.MultipleChoiceField(
        label="Ensemble with (optional)",
        required=False,
        help_text="Add detectors to combine their scores with the first one's.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    combine = forms.ChoiceField(
        choices=COMBINE_CHOICES, initial="average", label="Combine ensemble scores by"
    )
    scaling = forms.ChoiceField(choices=SCALING_CHOICES, initial="standard")
    encode_categoricals = forms.BooleanField(
        required=False, initial=True, label="Encode text columns"
    )
    impute = forms.BooleanField(
        required=False, initial=True, label="Fill in missing values (median)"
    )
    drop_constant = forms.BooleanField(required=False, initial=True, label="Drop constant columns")
    threshold_kind = forms.ChoiceField(
        choices=THRESHOLD_CHOICES, initial="contamination", label="Threshold"
    )
    threshold_value = forms.FloatField(
        required=False,
        initial=0.1,
        label="Threshold value",
        help_text="Fraction (0–0.5], score, or k; ignored when automatic.",
    )

    def __init__(self, *args, tenant, config: DetectorConfig | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant, self.config = tenant, config
        choices = [(s.key, f"{s.short_name} — {s.name}") for s in runnable_detectors()]
        auto = catalogue.get_detector("auto")
        self.fields["algorithm"].choices = [
            (auto.key, f"{auto.short_name} — {auto.name}"),
            *choices,
        ]
        self.fields["ensemble_with"].choices = choices
        self.fields["algorithm"].initial = DEFAULT_ALGORITHM
        self.specs = self._chosen_specs()
        for spec in self.specs:
            for param in spec.params:
                self.fields[f"{spec.key}{SEP}{param.name}"] = param_field(param)

    def _source(self, name: str, many: bool = False):
        if self.is_bound:
            return (
                self.data.getlist(name)
                if many and hasattr(self.data, "getlist")
                else self.data.get(name)
            )
        value = self.initial.get(name, self.fields[name].initial)
        return value

    def _chosen_specs(self) -> list:
        keys = [
            self._source("algorithm") or DEFAULT_ALGORITHM,
            *(self._source("ensemble_with", many=True) or []),
        ]
        specs, seen = [], set()
        for key in keys:
            try:
                spec = catalogue.get_detector(key)
            except UnknownDetector:
                continue
            if spec.key not in seen and spec.available:
                seen.add(spec.key)
                specs.append(spec)
        return specs

    def param_groups(self) -> list[tuple[Any, list]]:
        return [
            (spec, [self[f"{spec.key}{SEP}{p.name}"] for p in spec.params]) for spec in self.specs
        ]

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def clean(self) -> dict:
        from apps.detectors.services import ConfigInvalid, detector_config_validate

        data = super().clean()
        detectors = []
        for spec in self.specs:
            params = {}
            for param in spec.params:
                field = f"{spec.key}{SEP}{param.name}"
                if field not in self._errors:  # a field's own error is shown already
                    value = data.get(field)
                    params[param.name] = "" if value is None else value
            detectors.append({"key": spec.key, "params": params})
        if "name" not in data:
            return data
        pipeline = None
        if not self.errors:
            pipeline = {
                "detectors": detectors,
                "combine": data["combine"],
                "prepare": {
                    "scaling": data["scaling"],
                    "encode_categoricals": data["encode_categoricals"],
                    "impute": data["impute"],
                    "drop_constant": data["drop_constant"],
                },
                "threshold": {"kind": data["threshold_kind"], "value": data.get("threshold_value")},
            }
        try:
            data["pipeline"] = detector_config_validate(
                tenant=self.tenant, name=data["name"], pipeline=pipeline, config=self.config
            )
        except ConfigInvalid as exc:
            for path, message in exc.errors:
                self.add_error(*self._field_for(path, message))
        return data

    def _field_for(self, path: tuple, message: str) -> tuple[str | None, str]:
        """The form field (or None: the whole form) for a service error path."""
        if path == ("name",):
            return "name", message
        if path == ("pipeline", "threshold", "value"):
            return "threshold_value", message
        if path == ("pipeline", "combine"):
            return "combine", message
        if path[:2] == ("pipeline", "detectors") and len(path) == 5 and path[3] == "params":
            field = f"{self.specs[path[2]].key}{SEP}{path[4]}"
            if field in self.fields:
                return field, message
            return None, f"{path[4]}: {message}"
        return None, message


def initial_from_pipeline(pipeline: dict, config: DetectorConfig | None = None) -> dict:
    """Form initial values that reproduce a stored pipeline."""
    detectors = [
        (d["key"], d.get("params") or {}) if isinstance(d, dict) else (d[0], d[1] or {})
        for d in pipeline.get("detectors", [])
    ]
    prepare = pipeline.get("prepare") or {}
    threshold = pipeline.get("threshold") or {}
    initial: dict[str, Any] = {
        "algorithm": detectors[0][0] if detectors else DEFAULT_ALGORITHM,
        "ensemble_with": [k for k, _ in detectors[1:]],
        "combine": pipeline.get("combine", "average"),
        "threshold_kind": threshold.get("kind", "contamination"),
        "threshold_value": threshold.get("value"),
        **{
            k: prepare[k]
            for k in ("scaling", "encode_categoricals", "impute", "drop_constant")
            if k in prepare
        },
    }
    if config is not None:
        initial.update(name=config.name, description=config.description)
    for key, params in detectors:
        for name, value in params.items():
            initial[f"{key}{SEP}{name}"] = "" if value is None else value
    return initial


def initial_from_query(query) -> dict:
    """Initial values from a submitted (GET or POST) form, to re-render without validating."""
    initial: dict[str, Any] = {}
    for key in query:
        if key == "csrfmiddlewaretoken":
            continue
        values = query.getlist(key)
        initial[key] = values if key == "ensemble_with" else values[-1]
    for flag in ("encode_categoricals", "impute", "drop_constant"):
        if "name" in query or "algorithm" in query:  # a submitted form: unchecked boxes are absent
            initial[flag] = flag in query
    return initial
