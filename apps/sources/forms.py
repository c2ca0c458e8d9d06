"""The source form: field types only; every rule lives in services._clean (shared with the API)."""

from __future__ import annotations

from django import forms

from .models import Source

SSL_MODES = [("", "driver default"), ("disable", "disable"), ("prefer", "prefer"),
             ("require", "require"), ("verify-ca", "verify-ca"), ("verify-full", "verify-full")]  # fmt: skip


class SourceForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Source.Kind.choices, initial=Source.Kind.POSTGRESQL)
    url = forms.CharField(
        required=False,
        max_length=2000,
        label="Connection URL",
        help_text="Optional: postgresql://user:password@host:5432/db, mysql://… or sqlite:///file.db "
        "— fills the fields below (its password is encrypted like the field's).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    host = forms.CharField(required=False, max_length=255)
    port = forms.IntegerField(required=False, min_value=1, max_value=65535)
    database = forms.CharField(
        required=False,
        max_length=255,
        help_text="For SQLite: the file's name in the source directory.",
    )
    username = forms.CharField(required=False, max_length=255)
    password = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")
    sslmode = forms.ChoiceField(
        required=False, choices=SSL_MODES, label="TLS (sslmode, PostgreSQL)"
    )
    query = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One read-only SELECT. Or leave it empty and name a table below.",
    )
    table = forms.CharField(required=False, max_length=255, help_text="schema.table or table")
    columns = forms.CharField(
        required=False, max_length=5000, help_text="Comma-separated; empty reads every column."
    )
    watermark_column = forms.CharField(
        required=False,
        max_length=255,
        label="Watermark column",
        help_text="Incremental mode: a timestamp or increasing id; each pull reads only rows past "
        "the largest value read so far. Empty: every pull reads everything.",
    )
    statement_timeout_seconds = forms.IntegerField(
        initial=30, min_value=1, label="Statement timeout (s)"
    )
    row_cap = forms.IntegerField(initial=1_000_000, min_value=1, label="Row cap")
    columns_cap = forms.IntegerField(initial=500, min_value=1, label="Columns cap")

    def __init__(self, *args, instance: Source | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **{f: getattr(instance, f) for f in (
                    "name", "kind", "host", "port", "database", "username", "query", "table",
                    "watermark_column", "statement_timeout_seconds", "row_cap", "columns_cap",
                )},
                "columns": ", ".join(instance.columns or []),
                "sslmode": (instance.options or {}).get("sslmode", ""),
            }  # fmt: skip
        super().__init__(*args, **kwargs)
        self.instance = instance
        if instance is not None and instance.password_set:
            # Never shown back: the field stays empty, and empty keeps the stored password.
            self.fields["password"].widget.attrs["placeholder"] = "•••• set"
            self.fields["password"].help_text = "•••• set — leave blank to keep it."
        else:
            del self.fields["clear_password"]

    def service_data(self) -> dict:
        """The cleaned values as the service takes them (blank password = keep)."""
        d = dict(self.cleaned_data)
        sslmode = d.pop("sslmode", "") or ""
        d["options"] = {"sslmode": sslmode} if sslmode else {}
        if not d.get("password"):
            d.pop("password", None)
        return d
