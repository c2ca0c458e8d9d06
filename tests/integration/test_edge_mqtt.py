"""The edge scorer on a device: records from an MQTT topic (the machine's Mosquitto), scored by the
exported ONNX model, anomalies pushed to a live server's stream push endpoint and published to an
MQTT topic. Nothing is mocked: `pynomaly export` → `pynomaly-edge` subprocess → Mosquitto → the
real ASGI server → the stream's Redis push key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.streams import push
from pynomaly.detect import fit
from pynomaly.onnx_export import export_onnx
from pynomaly.pipeline import PipelineConfig
from tests.brokers import SHARED_MQTT, unique, wait_for

pytestmark = pytest.mark.integration

paho = pytest.importorskip("paho.mqtt.client", reason="the edge's MQTT extra (paho-mqtt)")


@pytest.fixture
def write_token(alice, tenant_a):
    from apps.api.services import token_create

    return token_create(user=alice, tenant=tenant_a, name="edge", scope="write")[1]


def _mqtt() -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    try:
        client.connect(*SHARED_MQTT)
    except OSError as exc:  # pragma: no cover - the machine's service is down
        pytest.skip(f"Mosquitto is not reachable on {SHARED_MQTT}: {exc}")
    return client


def test_the_edge_scores_an_mqtt_topic_and_sends_anomalies_to_the_server_and_a_topic(
    asgi_server, write_token, tmp_path: Path
):
    from pynomaly.client import Client

    rng = np.random.default_rng(7)
    train = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400) * 2 + 5})
    fitted = fit(train, PipelineConfig(detectors=(("iforest", {}),)).validated())
    model = tmp_path / "model.onnx"
    model.write_bytes(export_onnx(fitted))

    # the records the device sees: 40 ordinary ones and 3 far outside the training data
    records = [
        {"a": float(a), "b": float(b)} for a, b in rng.normal(size=(40, 2)) * [1, 2] + [0, 5]
    ]
    for i, far in ((5, 40.0), (17, -35.0), (31, 60.0)):
        records[i] = {"a": far, "b": far}
    expected = fitted.score(pd.DataFrame(records))
    flagged = [r for r, flag in zip(records, expected.labels, strict=True) if flag]
    assert {json.dumps(records[i]) for i in (5, 17, 31)} <= {json.dumps(r) for r in flagged}

    with Client(asgi_server.url, write_token) as api:
        stream = api.streams.create(
            name="edge device", kind="http", learner="hst", columns=["a", "b"]
        )
    try:
        topic_in, topic_out = unique("edge-in"), unique("edge-out")
        received: list[dict] = []
        done = threading.Event()
        listener = _mqtt()

        def on_message(_c, _u, message) -> None:
            received.append(json.loads(message.payload))
            if len(received) >= len(flagged):
                done.set()

        listener.on_message = on_message
        listener.subscribe(topic_out, qos=1)
        listener.loop_start()

        ready = tmp_path / "ready"
        edge = subprocess.Popen(
            [
                sys.executable, "-m", "pynomaly_edge.cli", str(model),
                "--mqtt-in", f"{SHARED_MQTT[0]}:{SHARED_MQTT[1]}", "--topic", topic_in,
                "--push", f"{asgi_server.url}/api/v1/streams/{stream.id}/events",
                "--token", stream.push_token,
                "--mqtt-out-topic", topic_out,
                "--max-records", str(len(records)), "--ready-file", str(ready),
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: ready.exists() or edge.poll() is not None, 60, "the edge connected")
            assert edge.poll() is None, edge.stderr.read() if edge.stderr else ""
            publisher = _mqtt()
            publisher.loop_start()
            # one message with a JSON array, then one record per message: both are accepted
            publisher.publish(topic_in, json.dumps(records[:10]), qos=1).wait_for_publish(10)
            for record in records[10:]:
                publisher.publish(topic_in, json.dumps(record), qos=1).wait_for_publish(10)
            publisher.loop_stop()
            publisher.disconnect()
            out, err = edge.communicate(timeout=120)
        finally:
            if edge.poll() is None:
                edge.kill()
                edge.communicate()
        assert edge.returncode == 0, err
        assert "Traceback" not in err

        # every record was scored on the device, with the platform's scores
        scored = [json.loads(line) for line in out.splitlines()]
        assert len(scored) == len(records)
        got = np.array([s["score"] for s in scored])
        assert np.abs(got - expected.scores).max() <= 1e-5 * max(
            float(np.ptp(expected.scores)), 1.0
        )

        # the anomalies, and only they, reached the server's stream and the MQTT topic
        entries = push.redis_client().xrange(push.push_key(stream.id))
        pushed = [json.loads(v) for _, fields in entries for v in fields.values()]
        pushed_records = [
            r for item in pushed for r in (item if isinstance(item, list) else [item])
        ]
        assert sorted(map(json.dumps, pushed_records)) == sorted(map(json.dumps, flagged))
        assert done.wait(30), f"{len(received)} of {len(flagged)} anomalies on {topic_out}"
        assert sorted(map(json.dumps, received)) == sorted(map(json.dumps, flagged))
        listener.loop_stop()
        listener.disconnect()
    finally:
        push.drop(stream.id)
