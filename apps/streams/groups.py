"""The Channels group a stream's live page listens on, and what the processor sends to it.

Channels delivers at most once (PITFALLS.md): a message is a nudge with the latest figures;
the page re-reads the stored state on every (re)connect.
"""

from __future__ import annotations


def stream_group(stream_id: int) -> str:
    return f"stream-{stream_id}"


# group_send(stream_group(id), {"type": STREAM_UPDATE, "html": ...}) from the processor;
# the consumer forwards the rendered fragment (apps.tenants.consumers.MemberGroupConsumer).
STREAM_UPDATE = "stream_update"


def publish(stream_id: int, message: dict) -> None:
    """Send the processor's latest figures to the stream's live page (best effort).

    ``message`` (JSON-serialisable; the consumer forwards it as a JSON text frame)::

        {"points": [[epoch_ms, score, flagged 0|1], ...],   # new since the last message,
                                                             # decimated to <= 500 points
         "threshold": float,
         "stats": {"records_total", "anomalies_total", "dead_letters_total",
                   "records_per_second", "lag", "drift": {column: bool}, "status"},
         "anomalies": [{"id", "event_id", "event_time", "score", "severity", "reasons"}]}
                                                             # the newest, at most 10
    """
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(stream_group(stream_id), {"type": STREAM_UPDATE, **message})
