"""``pynomaly models …``: a server's trained models, their MLflow state and registration.

Like every remote command they use the stored login (``pynomaly login``) and the SDK.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from pynomaly.cli import _command, _positive_int
from pynomaly.cli_output import EXIT_OK, _table

if TYPE_CHECKING:
    from pynomaly.cli import Commands
    from pynomaly.client import Client, MlflowState


def add_model_commands(commands: Commands) -> None:
    p = _command(
        commands,
        "models",
        "list trained models, show their MLflow state, register one in MLflow",
        "The trained models of the workspace you are logged in to (each run saves one). When "
        "the server logs runs to MLflow (MLFLOW_TRACKING_URI), a logged model can be "
        "registered in MLflow's model registry.",
        """\
        examples:
          pynomaly models list
          pynomaly models mlflow 12
          pynomaly models register 12 fraud-detector
          pynomaly export 12 -o model.onnx      the model as ONNX for pynomaly-edge
        """,
    )
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="trained models, newest first")
    ls.add_argument("--limit", type=_positive_int, default=50, help="at most N (default 50)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=cmd_models_list)
    ml = sub.add_parser("mlflow", help="the model's MLflow state (off, pending, logged, failed)")
    ml.add_argument("model", type=_positive_int, metavar="MODEL", help="trained model id")
    ml.add_argument("--json", action="store_true", help="print JSON")
    ml.set_defaults(func=cmd_models_mlflow)
    reg = sub.add_parser("register", help="register the model in MLflow's model registry")
    reg.add_argument("model", type=_positive_int, metavar="MODEL", help="trained model id")
    reg.add_argument("name", metavar="NAME", help="registered model name (a new version is added)")
    reg.set_defaults(func=cmd_models_register)


def _client() -> Client:
    from pynomaly.cli_remote import _client as client

    return client()


def cmd_models_list(args: argparse.Namespace) -> int:
    with _client() as client:
        models = client.models.list(limit=args.limit)
    if args.json:
        print(json.dumps([m.raw for m in models], indent=2))
        return EXIT_OK
    rows = [
        (str(m.id), str(m.run_id), f"{m.detector_config_id} v{m.detector_version}",
         (m.created_at or "")[:19].replace("T", " "), ", ".join(map(str, m.input_columns or []))[:60])
        for m in models
    ]  # fmt: skip
    _table(("ID", "RUN", "CONFIG", "CREATED", "COLUMNS"), rows)
    print(f"\n{len(models)} models")
    return EXIT_OK


def _describe(model: int, state: MlflowState) -> str:
    if state.status == "off":
        return (
            f"model {model}: not logged to MLflow (off on the server, or logged before it was on)"
        )
    line = f"model {model}: MLflow {state.status}"
    if state.mlflow_run_id:
        line += f", run {state.mlflow_run_id}"
    if state.status == "failed" and state.error:
        line += f" ({state.error}; attempt {state.attempts}, retrying)"
    if state.registered_name:
        line += f", registered as {state.registered_name} v{state.registered_version}"
    return line


def cmd_models_mlflow(args: argparse.Namespace) -> int:
    with _client() as client:
        state = client.models.mlflow(args.model)
    print(json.dumps(state.raw, indent=2) if args.json else _describe(args.model, state))
    return EXIT_OK


def cmd_models_register(args: argparse.Namespace) -> int:
    with _client() as client:
        state = client.models.register(args.model, args.name)
    print(_describe(args.model, state))
    return EXIT_OK
