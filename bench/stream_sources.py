"""How fast each broker adapter hands out records, without the processor (poll + commit only).

    python -m bench.stream_sources [--records 50000] [--batch 5000] [--only kafka,mqtt,nats]

For each adapter: produce ``--records`` JSON records (not timed), open a consumer, then time
poll(batch) + commit until every record came. Kafka runs on a tansu started here; MQTT and
NATS on the machine's Mosquitto (1883) and NATS JetStream (4222) with names of our own,
removed afterwards. Also prints the Kafka group join (consumer opened → first record) with
the adapter's settings and with librdkafka's default session timeout. Prints the load
average: on a shared machine, compare runs taken together.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import django


def _records(n: int) -> list[bytes]:
    return [
        b'{"id": "r%d", "temp": %d.5, "pressure": 1.25, "flow": -3.0}' % (i, i % 40)
        for i in range(n)
    ]


def _drain(consumer, total: int, batch: int) -> float:
    started = time.perf_counter()
    got = 0
    deadline = time.monotonic() + 600
    while got < total and time.monotonic() < deadline:
        messages = consumer.poll(min(batch, total - got), 1.0)
        consumer.commit(messages)
        got += len(messages)
    elapsed = time.perf_counter() - started
    if got < total:
        raise SystemExit(f"only {got} of {total} records came")
    return elapsed


def kafka_figures(n: int, batch: int) -> list[str]:
    from confluent_kafka import Consumer

    from apps.streams.sources import kafka
    from tests.brokers import Tansu, running, unique

    out = []
    with running(Tansu) as broker:
        topic = unique("bench")
        broker.create_topic(topic, partitions=2)
        config = {"bootstrap_servers": broker.bootstrap, "topic": topic, "group": unique("g")}
        kafka.produce(config, "", _records(n))
        started = time.perf_counter()
        consumer = kafka.KafkaConsumer(kafka.check_config(config), "", consumer_name="bench")
        first = consumer.poll(1, 60.0)
        joined = time.perf_counter() - started
        consumer.commit(first)
        elapsed = _drain(consumer, n - len(first), batch)
        consumer.close()
        out.append(f"kafka (tansu, 2 partitions): {n / elapsed:,.0f} records/s")
        out.append(
            f"kafka group join (session.timeout.ms 6000): {joined:.1f} s to the first record"
        )

        plain = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": unique("g"),
                "auto.offset.reset": "earliest",
            }
        )
        started = time.perf_counter()
        plain.subscribe([topic])
        while plain.poll(1.0) is None and time.perf_counter() - started < 120:
            pass
        out.append(
            f"kafka group join (librdkafka default, 45 s session): {time.perf_counter() - started:.1f} s"
        )
        plain.close()
    return out


def mqtt_figures(n: int, batch: int) -> list[str]:
    from apps.streams.sources import mqtt
    from tests.brokers import SHARED_MQTT, unique

    host, port = SHARED_MQTT
    name = unique("bench")
    config = {"host": host, "port": port, "topic": f"{name}/in", "qos": 1, "group": name}
    # Mosquitto keeps at most 1000 messages for a client that is not reading (its default
    # max_queued_messages): publish while the consumer reads, and time from the first record.
    consumer = mqtt.MqttConsumer(
        mqtt.check_config(config), "", consumer_name="bench", receive_maximum=65535
    )
    import threading

    producer = threading.Thread(target=mqtt.produce, args=(config, "", _records(n)))
    producer.start()
    first = []
    while not first:
        first = consumer.poll(1, 5.0)
    consumer.commit(first)
    elapsed = _drain(consumer, n - 1, batch)
    producer.join()
    consumer.close()
    mqtt.end_session(config, "", "bench")
    return [f"mqtt (Mosquitto, QoS 1, read while publishing): {n / elapsed:,.0f} records/s"]


def nats_figures(n: int, batch: int) -> list[str]:
    from apps.streams.sources import nats as nats_source
    from tests.brokers import SHARED_NATS, unique

    name = unique("BENCH").replace("-", "_")
    config = {"servers": SHARED_NATS, "stream": name, "subject": f"{name}.in", "durable": "bench"}
    try:
        nats_source.produce(config, "", _records(n), create_stream=True)
        consumer = nats_source.NatsConsumer(
            nats_source.check_config(config), "", consumer_name="bench"
        )
        elapsed = _drain(consumer, n, batch)
        consumer.close()
    finally:
        nats_source.delete_stream(config)
    return [f"nats (JetStream, durable pull): {n / elapsed:,.0f} records/s"]


FIGURES: dict[str, Callable[[int, int], list[str]]] = {
    "kafka": kafka_figures,
    "mqtt": mqtt_figures,
    "nats": nats_figures,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--only", default="kafka,mqtt,nats")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pynomaly_web.settings")
    django.setup()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    for kind in args.only.split(","):
        for line in FIGURES[kind.strip()](args.records, args.batch):
            print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
