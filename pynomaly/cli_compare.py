"""``pynomaly compare`` and ``pynomaly bakeoff``: which detector is better, and how sure.

Both work on the server (numbers: run ids, a dataset id) or locally (files): ``compare``
reads two results files written by ``pynomaly detect -o``; ``bakeoff`` runs each detector
on a data file with the local engine. The statistics are :mod:`pynomaly.stats` either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynomaly.cli import _add_data_options, _command, _positive_int
from pynomaly.cli_output import EXIT_OK, Progress, UsageError, _say, _table

if TYPE_CHECKING:
    import numpy as np

    from pynomaly.cli import Commands


def add_compare_commands(commands: Commands) -> None:
    _add_compare(commands)
    _add_bakeoff(commands)


# ----------------------------------------------------------------------------- parsers


def _add_stat_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("statistics")
    g.add_argument("--json", action="store_true", help="print the full result as JSON")
    g.add_argument("--n-boot", type=_positive_int, default=1000, metavar="N",
                   help="bootstrap samples (local; default 1000)")  # fmt: skip
    g.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (local; default 0)")


def _add_compare(commands: Commands) -> None:
    p = _command(
        commands,
        "compare",
        "compare two runs: which is better (with labels), how far they agree",
        "Compare two results on the same rows. With labels: ROC-AUC and average precision "
        "with bootstrap confidence intervals, DeLong's test and a paired bootstrap, and a "
        "plain sentence. Without: rank agreement and overlap of the flagged rows, with intervals.",
        """\
        A and B are run ids on the server you are logged in to, or two results files
        written by `pynomaly detect -o` (row_id, score, label); locally, --truth names
        the data file holding the labels (with --label-column).

        examples:
          pynomaly compare 17 18
          pynomaly compare iforest.parquet knn.parquet --truth data.csv --label-column y
          pynomaly compare 17 18 --json
        """,
    )
    p.add_argument("a", metavar="A", help="run id, or results file")
    p.add_argument("b", metavar="B", help="run id, or results file")
    p.add_argument("--truth", metavar="DATA", help="local: data file with the label column")
    p.add_argument(
        "--label-column", metavar="C", help="local: label column of --truth (1 = anomaly)"
    )
    _add_stat_options(p)
    p.set_defaults(func=cmd_compare)


def _add_bakeoff(commands: Commands) -> None:
    p = _command(
        commands,
        "bakeoff",
        "run several detectors on one dataset and rank them",
        "Run several detectors on the same data and print a leaderboard: with labels by "
        "ROC-AUC with intervals, each tested against the best; without, by agreement with "
        "the consensus of all.",
        """\
        DATASET is a data file (the local engine runs each detector) or a dataset id on
        the server (the runs start there together; --wait prints the leaderboard when
        they have finished).

        examples:
          pynomaly bakeoff data.csv -d iforest -d knn -d ecod --label-column y
          pynomaly bakeoff 4 -d iforest -d knn --label-column y --wait
          pynomaly bakeoff 4 -c 2 -c 7 --version 3
        """,
    )
    p.add_argument("dataset", metavar="DATASET", help="data file, or a dataset id on the server")
    p.add_argument("-d", "--detector", dest="detectors", action="append", default=[],
                   metavar="KEY", help="a detector with default parameters (repeat)")  # fmt: skip
    p.add_argument("-c", "--config", dest="configs", action="append", default=[],
                   type=_positive_int, metavar="ID",
                   help="server: a detector configuration id (repeat)")  # fmt: skip
    p.add_argument("--param", action="append", default=[], metavar="KEY.NAME=VALUE",
                   help="local: a detector parameter, e.g. knn.n_neighbors=20")  # fmt: skip
    p.add_argument("--version", type=_positive_int, metavar="N", help="server: dataset version")
    p.add_argument("--max-fit-rows", type=_positive_int, metavar="N", help="fit on a sample")
    p.add_argument("--accept-cost", action="store_true", help="server: start even if heavy")
    p.add_argument("--wait", action="store_true", help="server: wait and print the leaderboard")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _add_data_options(p)
    _add_stat_options(p)
    p.set_defaults(func=cmd_bakeoff)


# ----------------------------------------------------------------------------- printing


def _ci(ci: dict[str, Any] | None) -> str:
    if not ci or ci.get("value") is None:
        return "n/a"
    if ci.get("low") is None:
        return f"{ci['value']:.3f}"
    return f"{ci['value']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]"


def _print_comparison(c: dict[str, Any]) -> None:
    for sentence in c.get("sentences") or [c.get("sentence", "")]:
        print(sentence)
    print()
    level = int(round(100 * (c.get("level") or 0.95)))
    if c.get("labelled"):
        rows = []
        for key, name in (("roc_auc", "ROC-AUC"), ("average_precision", "average precision")):
            m = c[key]
            t = m["test"]
            diff = f"{t['diff']:+.3f} [{t['low']:+.3f}, {t['high']:+.3f}]"
            rows.append((name, _ci(m["a"]), _ci(m["b"]), diff, t["method"], t.get("p_text", "")))
        _table(("METRIC", f"A ({level}% CI)", "B", "B - A", "TEST", "P"), rows)
        print()
    elif c.get("note"):
        print(c["note"])
    ra, ov = c.get("rank_agreement") or {}, c.get("overlap") or {}
    _table(
        ("AGREEMENT", f"VALUE [{level}% CI]"),
        [
            ("Spearman", _ci(ra.get("spearman"))),
            ("Kendall tau", _ci(ra.get("kendall"))),
            ("Jaccard (flagged)", _ci(ov.get("jaccard"))),
            ("Cohen's kappa", _ci(ov.get("kappa"))),
        ],
    )
    sampling = c.get("sampling")
    if sampling:
        print(f"\ncomputed on {sampling['rule']}")


def _print_board(board: dict[str, Any], names: dict[int, str] | None = None) -> None:
    entries = board.get("entries") or []
    if not entries:
        print("no succeeded run to rank yet")
        return
    if board.get("labelled"):
        rows = []
        for e in entries:
            vs = e.get("vs_best")
            rows.append((
                str(e["rank"]), e.get("label", e.get("name", "")), _ci(e["roc_auc"]),
                "best" if not vs else f"{vs['roc_auc_diff']:+.3f}, {vs['roc_auc_p_text']}",
                _ci(e["average_precision"]),
                "" if not vs else f"{vs['ap_diff']:+.3f}, {vs['ap_p_text']}",
            ))  # fmt: skip
        _table(
            ("RANK", "DETECTOR", "ROC-AUC [95% CI]", "VS BEST", "AVG PRECISION", "VS BEST"), rows
        )
    else:
        print("no labels: ranked by agreement (Spearman) with the consensus of all")
        agreement = [
            (str(e["rank"]), e.get("label", e.get("name", "")), _ci(e["consensus_spearman"]))
            for e in entries
        ]
        _table(("RANK", "DETECTOR", "AGREEMENT [95% CI]"), agreement)
    sampling = board.get("sampling")
    if sampling:
        print(f"\ncomputed on {sampling['rule']}")


# ----------------------------------------------------------------------------- compare


def _is_id(text: str) -> bool:
    return text.isdigit() and not Path(text).exists()


def cmd_compare(args: argparse.Namespace) -> int:
    if _is_id(args.a) and _is_id(args.b):
        from pynomaly.cli_remote import _client

        with _client() as api:
            result = api.comparisons.compare(int(args.a), int(args.b)).raw
    elif _is_id(args.a) or _is_id(args.b):
        raise UsageError("give two run ids (server) or two results files (local), not one of each")
    else:
        result = _compare_files(args)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print_comparison(result)
    return EXIT_OK


def _read_results(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import numpy as np

    from pynomaly.data import load

    frame = load(path, time_column=None).frame
    missing = [c for c in ("row_id", "score", "label") if c not in frame.columns]
    if missing:
        raise UsageError(f"{path} is not a results file (no {', '.join(missing)} column)")
    return (
        frame["row_id"].to_numpy(dtype=np.int64),
        frame["score"].to_numpy(dtype=np.float64),
        frame["label"].to_numpy().astype(bool),
    )


def _compare_files(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from pynomaly import stats

    ids_a, sa, fa = _read_results(args.a)
    ids_b, sb, fb = _read_results(args.b)
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    if not len(common):
        raise UsageError(f"{args.a} and {args.b} share no row_id: not results of the same data")
    truth = None
    if args.truth or args.label_column:
        if not (args.truth and args.label_column):
            raise UsageError("--truth and --label-column go together")
        labels = _labels(args.truth, args.label_column)
        if common.max() >= len(labels):
            raise UsageError(f"{args.truth} has fewer rows than the results")
        truth = labels[common]
    names = (f"A ({Path(args.a).stem})", f"B ({Path(args.b).stem})")
    result = stats.compare_runs(truth, sa[ia], sb[ib], fa[ia], fb[ib], names,
                                n_boot=args.n_boot, seed=args.seed)  # fmt: skip
    result["sampling"] = {"rows": len(common), "of": len(common), "sampled": False,
                          "rule": f"all {len(common):,} rows both results scored"}  # fmt: skip
    return result


def _labels(path: str, column: str) -> np.ndarray:
    import numpy as np

    from pynomaly.data import load

    frame = load(path, time_column=None).frame
    if column not in frame.columns:
        raise UsageError(f"{path} has no column {column!r}")
    values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isnan(values), np.nan, (values != 0).astype(np.float64))


# ----------------------------------------------------------------------------- bakeoff


def cmd_bakeoff(args: argparse.Namespace) -> int:
    if _is_id(args.dataset):
        return _remote_bakeoff(args)
    return _local_bakeoff(args)


def _remote_bakeoff(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import _client

    if len(args.configs) + len(args.detectors) < 2:
        raise UsageError("a bake-off needs at least two detectors (-d KEY or -c ID, repeated)")
    if args.param:
        raise UsageError("--param is local only: on the server, make a configuration and use -c")
    dataset = int(args.dataset)
    with _client() as api:
        number = api.comparisons.latest_or(dataset, args.version)
        runs = api.comparisons.bakeoff(
            dataset, version=number, detector_config_ids=args.configs,
            detectors=args.detectors, label_column=args.label_column,
            max_fit_rows=args.max_fit_rows, accept_cost=args.accept_cost,
        )  # fmt: skip
        for run in runs:
            print(f"run {run.id} queued (detector configuration {run.detector_config_id})",
                  file=sys.stderr)  # fmt: skip
        if not args.wait:
            _say(args, f"leaderboard: GET /api/v1/datasets/{dataset}/versions/{number}/leaderboard")
            return EXIT_OK
        board = api.comparisons.leaderboard(dataset, number, wait=True).raw
    for e in board.get("entries", []):
        e["label"] = f"#{e['run_id']} {e['detector']}"
    if args.json:
        print(json.dumps(board, indent=2, default=str))
    else:
        _print_board(board)
    return EXIT_OK


def _local_bakeoff(args: argparse.Namespace) -> int:
    import numpy as np

    from pynomaly import stats
    from pynomaly.catalogue import get_detector
    from pynomaly.cli_local import _load, parse_params
    from pynomaly.detect import detect
    from pynomaly.pipeline import PipelineConfig

    if args.configs or args.version or args.accept_cost or args.wait:
        raise UsageError("-c, --version, --accept-cost and --wait are for a dataset on the server")
    specs = [get_detector(k) for k in args.detectors]
    keys = [s.key for s in specs]
    if len(keys) < 2:
        raise UsageError("a bake-off needs at least two detectors: -d KEY, repeated")
    if len(set(keys)) != len(keys):
        raise UsageError("a detector is listed twice in -d")
    raw = parse_params(args.param, keys)
    configs = [
        PipelineConfig(
            detectors=((s.key, s.validate_params(raw[s.key])),), max_fit_rows=args.max_fit_rows
        )  # fmt: skip
        for s in specs
    ]
    args.data = args.dataset
    _loaded, features, labels = _load(args)
    scores, seconds = [], []
    for key, config in zip(keys, configs, strict=True):
        t0 = time.perf_counter()
        progress = Progress(not args.quiet)
        try:
            _fitted, result = detect(features, config, progress=progress)
        finally:
            progress.close()
        seconds.append(time.perf_counter() - t0)
        _say(args, f"{key}: {len(result.scores):,} rows scored in {seconds[-1]:.2f}s")
        scores.append(result.scores)
    truth = None if labels is None else np.asarray(labels, dtype=np.float64)
    board = stats.leaderboard(truth, scores, keys, n_boot=args.n_boot, seed=args.seed)
    for e in board["entries"]:
        e["label"] = e["name"]
        e["seconds"] = seconds[e["index"]]
    board["sampling"] = {"rows": len(features), "of": len(features), "sampled": False,
                         "rule": f"all {len(features):,} rows"}  # fmt: skip
    if args.json:
        print(json.dumps(board, indent=2, default=str))
    else:
        _say(args)
        _print_board(board)
    return EXIT_OK
