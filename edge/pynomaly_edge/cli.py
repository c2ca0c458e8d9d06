"""``pynomaly-edge MODEL.onnx [FILE.csv ...]``: score records, print NDJSON, forward anomalies.

Input: CSV files, or stdin (NDJSON, or CSV with ``--stdin-format csv``), or an MQTT topic
(``--mqtt-in HOST:PORT --topic T``, JSON objects or arrays per message; needs the ``mqtt`` extra).
Output: one JSON line per record on stdout (``score``, ``anomaly``, ``severity``).
Anomalies (the raw records) go to a stream's push endpoint (``--push URL --token pys_…``)
and/or an MQTT topic (``--mqtt-out-topic``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

from .model import EdgeError, EdgeModel

BATCH = 512


def _csv_records(stream: io.TextIOBase | Any) -> Iterator[dict[str, Any]]:
    yield from csv.DictReader(stream)


def _ndjson_records(stream: Any) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EdgeError(f"line {number}: not JSON ({exc.msg})") from None
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                raise EdgeError(f"line {number}: a record must be a JSON object")
            yield item


def _batches(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Forwarder:
    def __init__(self, args: argparse.Namespace) -> None:
        self.push = args.push
        self.token = args.token
        self.mqtt_topic = args.mqtt_out_topic
        self.mqtt = None
        if self.push and not self.token:
            raise EdgeError("--push needs --token (the stream's push token)")
        if self.mqtt_topic:
            self.mqtt = _mqtt_client(args.mqtt_out or args.mqtt_in or "127.0.0.1:1883")
            self.mqtt.loop_start()

    def send(self, anomalies: list[dict[str, Any]]) -> None:
        if not anomalies:
            return
        if self.push:
            body = "\n".join(json.dumps(r) for r in anomalies).encode()
            request = urllib.request.Request(
                self.push,
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                raise EdgeError(f"push refused: HTTP {exc.code} {exc.read()[:200]!r}") from None
            except urllib.error.URLError as exc:
                raise EdgeError(f"push failed: {exc.reason}") from None
        if self.mqtt is not None:
            for record in anomalies:
                self.mqtt.publish(self.mqtt_topic, json.dumps(record), qos=1).wait_for_publish(10)

    def close(self) -> None:
        if self.mqtt is not None:
            self.mqtt.loop_stop()
            self.mqtt.disconnect()


def _mqtt_client(address: str) -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ModuleNotFoundError:
        raise EdgeError("MQTT needs the extra: pip install 'pynomaly-edge[mqtt]'") from None
    host, _, port = address.partition(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        client.connect(host, int(port or 1883))
    except (OSError, ValueError) as exc:
        raise EdgeError(f"cannot reach MQTT broker {address}: {exc}") from None
    return client


def _process(model: EdgeModel, batch: list[dict[str, Any]], forwarder: Forwarder, out: Any) -> None:
    results = model.score(batch)
    for result in results:
        out.write(json.dumps(result) + "\n")
    out.flush()
    forwarder.send([r for r, s in zip(batch, results, strict=True) if s["anomaly"]])


def _mqtt_loop(model: EdgeModel, args: argparse.Namespace, forwarder: Forwarder) -> None:
    client = _mqtt_client(args.mqtt_in)
    seen = 0

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        nonlocal seen
        try:
            records = list(_ndjson_records(message.payload.decode("utf-8").splitlines()))
            _process(model, records, forwarder, sys.stdout)
        except (EdgeError, UnicodeDecodeError) as exc:
            sys.stderr.write(f"pynomaly-edge: skipped a message: {exc}\n")
            return
        seen += len(records)
        if args.max_records and seen >= args.max_records:
            client.disconnect()

    def on_connect(c: Any, _u: Any, _f: Any, _rc: Any, _p: Any = None) -> None:
        c.subscribe(args.topic, qos=1)
        if args.ready_file:
            with open(args.ready_file, "w") as fh:
                fh.write("ready\n")

    client.on_message = on_message
    client.on_connect = on_connect
    client.loop_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pynomaly-edge", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .onnx file made by `pynomaly export`")
    parser.add_argument("files", nargs="*", help="CSV files (default: stdin)")
    parser.add_argument("--stdin-format", choices=["ndjson", "csv"], default="ndjson")
    parser.add_argument("--push", help="stream push URL: https://HOST/api/v1/streams/ID/events")
    parser.add_argument("--token", help="the stream's push token (pys_…)")
    parser.add_argument("--mqtt-in", help="read records from this MQTT broker HOST:PORT")
    parser.add_argument("--topic", help="MQTT topic (filter) to read")
    parser.add_argument("--mqtt-out", help="broker HOST:PORT for anomalies (default: --mqtt-in)")
    parser.add_argument("--mqtt-out-topic", help="publish anomalies to this MQTT topic")
    parser.add_argument("--max-records", type=int, default=0, help="stop after N MQTT records")
    parser.add_argument("--ready-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    forwarder = None
    try:
        model = EdgeModel.load(args.model)
        forwarder = Forwarder(args)
        if args.mqtt_in:
            if not args.topic:
                raise EdgeError("--mqtt-in needs --topic")
            _mqtt_loop(model, args, forwarder)
            return 0
        sources: list[Iterable[dict[str, Any]]] = []
        for path in args.files:
            try:
                sources.append(_csv_records(open(path, newline="", encoding="utf-8")))
            except OSError as exc:
                raise EdgeError(f"cannot read {path}: {exc.strerror}") from None
        if not args.files:
            reader = _csv_records if args.stdin_format == "csv" else _ndjson_records
            sources.append(reader(sys.stdin))
        for source in sources:
            for batch in _batches(source, BATCH):
                _process(model, batch, forwarder, sys.stdout)
    except EdgeError as exc:
        sys.stderr.write(f"pynomaly-edge: {exc}\n")
        return 2
    finally:
        if forwarder is not None:
            forwarder.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
