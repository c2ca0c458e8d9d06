"""Broker adapters: one module per kind, all behind :class:`sources.base.Consumer`.

``open_consumer`` imports the adapter of a stream's kind only when a stream of that kind is
opened, so a processor that serves Redis streams never loads the Kafka client, and a
missing or broken adapter fails that stream (its error shown on the stream) and no other.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# One error for "this stream cannot be read now", whether its adapter is missing or its broker is
# away: the processor shows it on the stream and retries.
from .errors import SourceUnavailable

if TYPE_CHECKING:
    from apps.streams.models import Stream

    from .base import Consumer

ADAPTERS = {
    "redis": "apps.streams.sources.redis:RedisConsumer",
    "http": "apps.streams.sources.redis:RedisConsumer",
    "kafka": "apps.streams.sources.kafka:KafkaConsumer",
    "mqtt": "apps.streams.sources.mqtt:MqttConsumer",
    "nats": "apps.streams.sources.nats:NatsConsumer",
}


def adapter(kind: str) -> Any:
    """The consumer class of ``kind`` (imported now)."""
    target = ADAPTERS.get(kind)
    if target is None:
        raise SourceUnavailable(f"no adapter for streams of kind '{kind}'")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceUnavailable(
            f"the {kind} adapter ({module_name}) cannot be imported: {exc}"
        ) from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise SourceUnavailable(f"{module_name} has no {class_name}") from None


def open_consumer(stream: Stream, *, consumer_name: str) -> Consumer:
    """A connected consumer of ``stream``'s source, in its consumer group as ``consumer_name``."""
    consumer: Consumer = adapter(stream.kind).from_stream(stream, consumer_name)
    return consumer
