from __future__ import annotations

from django import forms

from .uploads import human_bytes, max_upload_bytes

ACCEPT = ".zip,.csv,.tsv,.tab,.txt,.json,.jsonl,.ndjson,.parquet,.pq,.feather,.arrow,.xlsx,.xlsm,.h5,.hdf5,.hdf"

EDGES_ACCEPT = ".csv,.tsv,.txt,.edgelist,.edges,.el,.parquet,.json,.jsonl"


class UploadForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Defaults to the file name. An existing dataset's name adds a new version to it.",
    )
    file = forms.FileField(help_text="")
    edges = forms.FileField(
        required=False,
        label="Edges (for a graph)",
        help_text="A graph: the file above holds the nodes (id + feature columns), this one "
        "the edges (source, target, optional weight; CSV or an edge list). Or upload one "
        ".zip holding nodes.csv and edges.csv above.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = max_upload_bytes()
        self.fields[
            "file"
        ].help_text = f"CSV, TSV, JSON, JSON Lines, Parquet, Feather, Excel (.xlsx) or HDF5 — or a graph's nodes (see Edges), or a .zip of a graph; up to {human_bytes(limit)}."
        # The browser checks the size before sending; the server checks again regardless.
        self.fields["file"].widget.attrs.update({"accept": ACCEPT, "data-max-bytes": str(limit)})
        self.fields["edges"].widget.attrs.update(
            {"accept": EDGES_ACCEPT, "data-max-bytes": str(limit)}
        )
        self.fields["name"].widget.attrs.update(
            {"placeholder": "Name (optional)", "autocomplete": "off"}
        )
