"""``pynomaly export MODEL --format onnx -o model.onnx``: a saved model as ONNX for ``pynomaly-edge``.

MODEL is a model file from ``pynomaly train`` (exported here), or the id of a trained model
on the server (a number that names no local file; exported there, with the login of
``pynomaly login``), as for ``pynomaly score``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pynomaly.cli_output import EXIT_OK, UsageError


def add_export_command(commands: Any) -> None:
    p = commands.add_parser(
        "export",
        help="export a saved model as ONNX for the edge scorer",
        description="Write MODEL (from `pynomaly train`, or a trained model's id on the server) "
        "as an ONNX file that `pynomaly-edge` scores on raw records; refused when no converter "
        "exists or the ONNX scores differ from the platform's.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="model file from `pynomaly train`, or a trained model id on the server (logged in)",
    )
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format")
    p.add_argument("-o", "--output", required=True, help="file to write (model.onnx)")
    p.add_argument("--sha256", help="refuse the model unless its SHA-256 matches")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import is_remote_model

    if is_remote_model(args.model):
        return _export_remote(args)
    from pynomaly.onnx_export import export_onnx
    from pynomaly.persist import load as load_model

    data = export_onnx(load_model(args.model, sha256=args.sha256))
    with open(args.output, "wb") as fh:
        fh.write(data)
    sys.stderr.write(f"wrote {args.output} ({len(data):,} bytes, ONNX)\n")
    return EXIT_OK


def _export_remote(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pynomaly.cli_remote import _client, _progress

    if args.sha256:
        raise UsageError("--sha256 checks a local model file; MODEL here is a server model id")
    with _client() as client:
        path = client.models.export(
            int(args.model), args.output, format=args.format, progress=_progress(args)
        )
    size = Path(path).stat().st_size
    sys.stderr.write(f"wrote {path} ({size:,} bytes, ONNX) from model {args.model}\n")
    return EXIT_OK
