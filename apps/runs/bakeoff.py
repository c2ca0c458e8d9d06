"""Bake-offs: several detector configurations started together on one dataset version.

The runs are ordinary runs (each passes the same start rules and is audited as
``run.started``); the leaderboard (:mod:`apps.runs.comparison`) ranks a version's succeeded
runs whether or not they were started together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.db import transaction
from django.http import HttpRequest

from apps.audit.services import audit_record
from apps.datasets.models import DatasetVersion
from apps.detectors.models import DetectorConfig
from apps.detectors.services import ConfigInvalid, detector_config_create, detector_config_validate

from .models import Run
from .rules import RunInvalid, run_start_check
from .services import RunStateError, run_start

MIN_DETECTORS = 2
MAX_DETECTORS = 12


def bakeoff_check(
    *,
    dataset_version: DatasetVersion,
    configs: Sequence[DetectorConfig],
    label_column: str = "",
    max_fit_rows: int | None = None,
    accept_cost: bool = False,
) -> None:
    """Every configuration passes the start rules, or ``RunInvalid`` naming each that fails."""
    errors: list[tuple[str, str]] = []
    if not MIN_DETECTORS <= len(configs) <= MAX_DETECTORS:
        errors.append(
            ("configs", f"Choose {MIN_DETECTORS} to {MAX_DETECTORS} detector configurations.")
        )
    if len({c.pk for c in configs}) != len(configs):
        errors.append(("configs", "Each configuration can take part once."))
    seen: set[tuple[str, str]] = set()
    for config in configs:
        current = config.current
        if current is None:
            errors.append(("configs", f"{config.name} has no version yet."))
            continue
        try:
            run_start_check(
                dataset_version=dataset_version,
                detector_version=current,
                label_column=label_column,
                max_fit_rows=max_fit_rows,
                accept_cost=accept_cost,
            )
        except RunInvalid as exc:
            for field, message in exc.errors:
                # The label and sample rules say the same for every configuration: once.
                key = (field, message if field != "accept_cost" else config.name)
                if key in seen:
                    continue
                seen.add(key)
                errors.append(
                    (field, f"{config.name}: {message}" if field == "accept_cost" else message)
                )
    if errors:
        raise RunInvalid(errors)


@transaction.atomic
def bakeoff_start(
    *,
    tenant,
    user,
    dataset_version: DatasetVersion,
    configs: Sequence[DetectorConfig],
    label_column: str = "",
    max_fit_rows: int | None = None,
    accept_cost: bool = False,
    request: HttpRequest | None = None,
) -> list[Run]:
    """One queued run per configuration, all or none (``RunInvalid`` before any is written)."""
    bakeoff_check(
        dataset_version=dataset_version,
        configs=configs,
        label_column=label_column,
        max_fit_rows=max_fit_rows,
        accept_cost=accept_cost,
    )
    runs = []
    for config in configs:
        current = config.current
        if current is None:  # checked above; a concurrent delete of its versions
            raise RunStateError(f"{config.name} has no version yet.")
        runs.append(
            run_start(
                tenant=tenant,
                user=user,
                dataset_version=dataset_version,
                detector_version=current,
                label_column=label_column,
                max_fit_rows=max_fit_rows,
                request=request,
            )
        )
    audit_record(
        action="run.bakeoff_started",
        actor=user,
        tenant=tenant,
        target=dataset_version,
        request=request,
        details={
            "runs": [r.pk for r in runs],
            "detector_configs": [c.pk for c in configs],
            "label_column": label_column,
        },
    )
    return runs


def default_config_name(key: str) -> str:
    return f"{key} (defaults)"


@transaction.atomic
def bakeoff_configs_for_keys(
    *, tenant, user, keys: Sequence[str], request: HttpRequest | None = None
) -> list[DetectorConfig]:
    """A configuration with default parameters per detector key: the workspace's
    ``"<key> (defaults)"`` if it exists, else created (and audited). ``ConfigInvalid`` for
    an unknown or unusable key."""
    configs = []
    for i, key in enumerate(keys):
        name = default_config_name(key)
        existing = DetectorConfig.objects.for_tenant(tenant).filter(name__iexact=name).first()
        if existing is not None:
            configs.append(existing)
            continue
        try:
            pipeline = detector_config_validate(
                tenant=tenant, name=name, pipeline={"detectors": [{"key": key, "params": {}}]}
            )
        except ConfigInvalid as exc:
            raise ConfigInvalid(
                [(("detectors", i), f"{key}: {message}") for _, message in exc.errors]
            ) from None
        assert pipeline is not None
        configs.append(
            detector_config_create(
                tenant=tenant,
                user=user,
                name=name,
                pipeline=pipeline,
                description="Created by a bake-off: the detector's default parameters.",
                request=request,
            )
        )
    return configs


@transaction.atomic
def bakeoff_start_with_keys(
    *,
    tenant,
    user,
    dataset_version: DatasetVersion,
    configs: Sequence[DetectorConfig] = (),
    keys: Sequence[str] = (),
    label_column: str = "",
    max_fit_rows: int | None = None,
    accept_cost: bool = False,
    request: HttpRequest | None = None,
) -> list[Run]:
    """:func:`bakeoff_start` with detector keys as well (default configurations, see
    :func:`bakeoff_configs_for_keys`); a refusal writes nothing, not even those configurations."""
    chosen = [
        *configs,
        *bakeoff_configs_for_keys(tenant=tenant, user=user, keys=keys, request=request),
    ]
    return bakeoff_start(
        tenant=tenant,
        user=user,
        dataset_version=dataset_version,
        configs=chosen,
        label_column=label_column,
        max_fit_rows=max_fit_rows,
        accept_cost=accept_cost,
        request=request,
    )


# ---------------------------------------------------------------- the form
class ConfigsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: DetectorConfig) -> str:
        current = obj.current
        keys = ", ".join(current.detector_keys) if current else "no version"
        return f"{obj.name} ({keys})"


class BakeoffForm(forms.Form):
    configs = ConfigsField(
        queryset=DetectorConfig.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Detector configurations",
        help_text=f"Pick {MIN_DETECTORS} to {MAX_DETECTORS}; each runs its current version.",
    )
    label_column = forms.ChoiceField(
        required=False,
        label="Label column (optional)",
        help_text="Ground truth (1 = anomaly): the leaderboard then ranks by ROC-AUC with intervals.",
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

    def __init__(self, *args, tenant, version: DatasetVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        cast(forms.ModelMultipleChoiceField, self.fields["configs"]).queryset = (
            DetectorConfig.objects.for_tenant(tenant)
            .filter(versions__isnull=False)
            .distinct()
            .order_by("name")
        )
        skip = {version.time_column} if version.time_column else set()
        cast(forms.ChoiceField, self.fields["label_column"]).choices = [("", "— none —")] + [
            (c, c) for c in version.column_names if c not in skip
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            bakeoff_check(
                dataset_version=self.version,
                configs=list(data["configs"]),
                label_column=data.get("label_column") or "",
                max_fit_rows=data.get("max_fit_rows"),
                accept_cost=bool(data.get("accept_cost")),
            )
        except RunInvalid as exc:
            for field, message in exc.errors:
                self.add_error(field if field in self.fields else None, message)
        return data
