"""The stream form: field types only; every rule lives in services (shared with the API).

Broker settings are fields named ``<kind>_<key>`` (``kafka_topic``, ``mqtt_qos`` …); only the
chosen kind's are shown, and changing the kind re-renders the form over HTMX (the page also
works without JavaScript: submitting shows the new kind's fields with what they need).
"""

from __future__ import annotations

from typing import cast

from django import forms
from django.core.exceptions import ValidationError

from apps.detectors.models import TrainedModel

from .config import KAFKA_MECHANISMS, KAFKA_PROTOCOLS, KEYS
from .models import Stream

_TEXT = {"autocomplete": "off", "spellcheck": "false"}


def _config_fields() -> dict[str, forms.Field]:
    f: dict[str, forms.Field] = {
        "redis_url": forms.CharField(
            label="Redis URL",
            help_text="redis://host:6379/0 (a password in it is stored encrypted)",
        ),
        "redis_key": forms.CharField(label="Stream key"),
        "redis_group": forms.CharField(label="Consumer group", initial="pynomaly", required=False),
        "kafka_bootstrap_servers": forms.CharField(
            label="Bootstrap servers", help_text="host:9092, comma-separated"
        ),
        "kafka_topic": forms.CharField(label="Topic"),
        "kafka_group": forms.CharField(label="Consumer group", initial="pynomaly", required=False),
        "kafka_security_protocol": forms.ChoiceField(
            label="Security protocol", choices=[(p, p) for p in KAFKA_PROTOCOLS]
        ),
        "kafka_sasl_mechanism": forms.ChoiceField(
            label="SASL mechanism",
            required=False,
            choices=[(m, m or "none") for m in KAFKA_MECHANISMS],
        ),  # fmt: skip
        "kafka_username": forms.CharField(label="SASL username", required=False),
        "mqtt_host": forms.CharField(label="Broker host"),
        "mqtt_port": forms.IntegerField(
            label="Port",
            required=False,
            min_value=1,
            max_value=65535,
            help_text="1883 (8883 with TLS)",
        ),
        "mqtt_topic": forms.CharField(label="Topic filter", help_text="e.g. plant/+/sensors/#"),
        "mqtt_qos": forms.TypedChoiceField(
            label="QoS", coerce=int, initial=1, choices=[(0, "0"), (1, "1"), (2, "2")]
        ),
        "mqtt_username": forms.CharField(label="Username", required=False),
        "mqtt_tls": forms.BooleanField(label="TLS", required=False),
        "nats_servers": forms.CharField(
            label="Servers", help_text="nats://host:4222, comma-separated"
        ),
        "nats_stream": forms.CharField(label="JetStream stream"),
        "nats_subject": forms.CharField(label="Subject"),
        "nats_durable": forms.CharField(
            label="Durable consumer", initial="pynomaly", required=False
        ),
    }
    for field in f.values():
        if isinstance(field.widget, forms.TextInput):
            field.widget.attrs.update(_TEXT)
        field.required = False  # the service says what each kind needs
    return f


class StreamForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Stream.Kind.choices, initial=Stream.Kind.REDIS)
    password = forms.CharField(
        required=False,
        max_length=1000,
        label="Broker password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")
    learner = forms.ChoiceField(choices=Stream.Learner.choices, initial=Stream.Learner.MODEL)
    model = forms.ModelChoiceField(
        queryset=TrainedModel.objects.none(), required=False, label="Trained model"
    )
    columns = forms.CharField(
        required=False,
        max_length=20000,
        label="Feature columns",
        help_text="Online learner: comma-separated record fields it reads.",
    )
    threshold = forms.FloatField(required=False, help_text="Empty: the model's own threshold.")
    id_field = forms.CharField(
        required=False, max_length=200, label="Event id field",
        help_text="The record field with a unique id; empty: the broker's position.",
    )  # fmt: skip
    time_field = forms.CharField(
        required=False, max_length=200, label="Event time field",
        help_text="Empty: the time the record was received.",
    )  # fmt: skip
    batch_size = forms.IntegerField(initial=5000, min_value=1, max_value=100_000)

    def __init__(
        self, *args, tenant, instance: Stream | None = None, kind: str | None = None, **kw
    ):
        if instance is not None and "initial" not in kw:
            kw["initial"] = {
                **{f: getattr(instance, f) for f in (
                    "name", "kind", "learner", "threshold", "id_field", "time_field", "batch_size",
                )},
                "model": instance.model_id,
                "columns": ", ".join(instance.columns or []),
                **{f"{instance.kind}_{k}": v for k, v in (instance.config or {}).items()},
            }  # fmt: skip
        super().__init__(*args, **kw)
        self.instance = instance
        for name, field in _config_fields().items():
            self.fields[name] = field
        models = (
            TrainedModel.objects.for_tenant(tenant).select_related("run").order_by("-created_at")
        )
        cast(forms.ModelChoiceField, self.fields["model"]).queryset = models
        self.kind_value = self._kind(kind)
        if instance is not None:
            self.fields["kind"].disabled = True
        self.fields["kind"].widget.attrs.update({"data-kind-switch": ""})
        for name in [n for n in self.fields if "_" in n and n.split("_", 1)[0] in KEYS]:
            if not name.startswith(f"{self.kind_value}_"):
                del self.fields[name]
        if self.kind_value == Stream.Kind.HTTP:
            del self.fields["password"], self.fields["clear_password"]
        elif instance is not None and instance.secret_encrypted:
            # Never shown back: the field stays empty, and empty keeps the stored password.
            self.fields["password"].widget.attrs["placeholder"] = "•••• set"
            self.fields["password"].help_text = "•••• set — leave blank to keep it."
        else:
            del self.fields["clear_password"]

    def _kind(self, kind: str | None) -> str:
        if self.instance is not None:
            return self.instance.kind
        value = (
            kind or (self.data.get("kind") if self.is_bound else None) or self.initial.get("kind")
        )
        return value if value in Stream.Kind.values else Stream.Kind.REDIS

    def config_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.fields if n.startswith(f"{self.kind_value}_")]

    def scoring_fields(self) -> list[forms.BoundField]:
        names = ("learner", "model", "columns", "threshold", "id_field", "time_field", "batch_size")
        return [self[n] for n in names]

    def service_data(self) -> dict:
        """The cleaned values as the service takes them (blank password = keep)."""
        d = dict(self.cleaned_data)
        prefix = f"{self.kind_value}_"
        config = {n[len(prefix) :]: d.pop(n) for n in list(d) if n.startswith(prefix)}
        config = {k: v for k, v in config.items() if v not in (None, "")}
        data = {**d, "kind": self.kind_value, "config": config}
        data["model"] = d["model"].pk if d.get("model") is not None else None
        if not data.get("password"):
            data.pop("password", None)
        return data

    def apply_errors(self, exc: ValidationError) -> None:
        """The service's errors on the form's fields (``config.key`` → ``<kind>_key``)."""
        for field, messages in exc.message_dict.items():
            name = f"{self.kind_value}_{field[7:]}" if field.startswith("config.") else field
            self.add_error(name if name in self.fields else None, messages)
