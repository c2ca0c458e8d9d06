"""NATS JetStream through nats-py: a durable pull consumer behind the synchronous contract.

nats-py is asyncio only; the processor is a plain loop. Each consumer runs its own event loop
on a thread of its own (:class:`_LoopThread`) and every call hands a coroutine to it and waits
for the answer, so the processor never sees asyncio and the client's background tasks (pings,
reconnects) keep running between polls.

Delivery: the durable consumer (``AckExplicit``) hands a message out again unless it is acked
within ``ack_wait`` seconds. :meth:`commit` acks each message the processor stored and flushes
(the server has read the acks when it returns). Several processors of one stream pull from
the same durable and JetStream spreads the messages between them. :meth:`close` naks what was
polled and not committed, so the next processor gets it at once rather than after
``ack_wait`` (a killed processor cannot: its messages come back after ``ack_wait``). A pull
consumer only sends what was asked for (the ``batch`` of a fetch), so a slow processor holds
at most one batch; the rest waits on the server (``num_pending``, the lag).

nats-py reconnects by itself (``reconnect_time_wait`` between attempts, forever); a poll while
it is away returns nothing, a commit raises :class:`SourceUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from apps.streams.sources.base import Message
from apps.streams.sources.errors import (
    SourceConfigError,
    SourceUnavailable,
    optional_str,
    require_str,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ACK_WAIT = 30.0
# How many messages may be handed out and not yet acked, over all processors of the durable
# (the server's default, 1000, would cap a 5000-record micro-batch).
MAX_ACK_PENDING = 20_000
RECONNECT_WAIT = 1.0
CALL_MARGIN = 10.0  # seconds over a call's own timeout before we stop waiting for the loop


@dataclass(frozen=True, slots=True)
class NatsSettings:
    """A stream's NATS config, checked (never the password or token)."""

    servers: tuple[str, ...]
    stream: str
    subject: str
    durable: str
    username: str = ""
    ack_wait: float = DEFAULT_ACK_WAIT


def check_config(config: dict, *, default_durable: str = "") -> NatsSettings:
    """The settings in ``config``, or a :class:`SourceConfigError` saying what to fix."""
    if not isinstance(config, dict):
        raise SourceConfigError("The NATS settings must be an object.")
    raw = config.get("servers")
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list) or not [s for s in raw if isinstance(s, str) and s.strip()]:
        raise SourceConfigError("Servers are required (e.g. nats://nats:4222).")
    servers = tuple(s.strip() for s in raw if isinstance(s, str) and s.strip())
    for server in servers:
        if not server.startswith(("nats://", "tls://", "ws://", "wss://")):
            raise SourceConfigError(
                f"Server {server!r} must be a URL such as nats://host:4222 or tls://host:4222."
            )
    durable = optional_str(config, "durable", "Durable consumer") or default_durable
    if not durable:
        raise SourceConfigError("Durable consumer name is required.")
    if any(c in durable for c in " .*>"):
        raise SourceConfigError("A durable consumer name cannot hold spaces, dots, * or >.")
    ack_wait = config.get("ack_wait", DEFAULT_ACK_WAIT)
    if isinstance(ack_wait, bool) or not isinstance(ack_wait, int | float) or ack_wait < 1:
        raise SourceConfigError("Ack wait must be a number of seconds, at least 1.")
    return NatsSettings(
        servers=servers,
        stream=require_str(config, "stream", "JetStream stream"),
        subject=require_str(config, "subject", "Subject"),
        durable=durable,
        username=optional_str(config, "username", "User name"),
        ack_wait=float(ack_wait),
    )


async def _new_event() -> asyncio.Event:
    return asyncio.Event()  # made on the loop that waits on it


class _LoopThread:
    """An asyncio event loop running on a daemon thread of its own."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout + CALL_MARGIN)
        except TimeoutError:
            future.cancel()
            raise SourceUnavailable("NATS did not answer in time.") from None

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


async def _connect(settings: NatsSettings, secret: str, name: str, **callbacks: Any) -> Client:
    auth: dict[str, Any] = {}
    if settings.username:
        auth = {"user": settings.username, "password": secret}
    elif secret:
        auth = {"token": secret}
    try:
        nc = await nats.connect(
            servers=list(settings.servers),
            name=name,
            connect_timeout=5,
            # The first connection fails fast (a wrong address or password is the user's to
            # fix, not something to retry forever); once connected, reconnect for ever.
            max_reconnect_attempts=1,
            reconnect_time_wait=RECONNECT_WAIT,
            **auth,
            **callbacks,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        raise SourceUnavailable(f"NATS at {', '.join(settings.servers)}: {exc}") from None
    nc.options["max_reconnect_attempts"] = -1
    return nc


class NatsConsumer:
    """One puller of the stream's durable JetStream consumer (see the module's docstring)."""

    def __init__(self, settings: NatsSettings, secret: str, *, consumer_name: str) -> None:
        self.settings = settings
        self.consumer_name = consumer_name
        self.problem: str | None = None
        self._outstanding: dict[int, Msg] = {}  # polled, not committed: nak'd on close
        self._closed = False
        self._logged: dict[str, float] = {}
        # delivered by a pull request, not yet handed out (bounded by max_ack_pending)
        self._delivered: deque[Msg] = deque()
        self._statuses = 0
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{settings.stream}.{settings.durable}"
        self._loop = _LoopThread(f"nats-{settings.durable}")
        self._signal = self._loop.run(_new_event(), 5)
        try:
            self._nc, self._inbox = self._loop.run(self._open(secret), 15)
        except BaseException:
            self._loop.stop()
            raise

    @classmethod
    def from_stream(cls, stream: Any, consumer_name: str) -> NatsConsumer:
        from apps.common import secrets

        settings = check_config(stream.config, default_durable=f"pynomaly-stream-{stream.pk}")
        return cls(settings, secrets.decrypt(stream.secret_encrypted), consumer_name=consumer_name)

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"<NatsConsumer {','.join(s.servers)} stream={s.stream} subject={s.subject} "
            f"durable={s.durable} name={self.consumer_name}>"
        )

    async def _on_error(self, exc: Exception) -> None:
        # nats-py reports each failed reconnect attempt (one a second while the server is
        # away): log each kind of error once per 30 s.
        self.problem = f"NATS: {exc}"
        now = time.monotonic()
        if now - self._logged.get(type(exc).__name__, -1e9) >= 30.0:
            self._logged[type(exc).__name__] = now
            log.warning("NATS %s (%s): %s", self.settings.durable, self.consumer_name, exc)

    async def _on_disconnected(self) -> None:
        if self._closed:
            return
        self.problem = "NATS: disconnected, reconnecting"
        log.warning("NATS %s (%s): disconnected", self.settings.durable, self.consumer_name)

    async def _on_reconnected(self) -> None:
        self.problem = None
        log.info("NATS %s (%s): reconnected", self.settings.durable, self.consumer_name)

    async def _open(self, secret: str) -> tuple[Client, Any]:
        s = self.settings
        try:
            nc = await _connect(
                s,
                secret,
                self.consumer_name,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        except SourceUnavailable as exc:
            raise SourceUnavailable(f"{exc} (last error: {self.problem})") from None
        config = api.ConsumerConfig(
            durable_name=s.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait,
            max_ack_pending=MAX_ACK_PENDING,
            deliver_policy=api.DeliverPolicy.ALL,
            filter_subject=s.subject,
        )
        js = nc.jetstream()
        try:
            await js.stream_info(s.stream)
        except nats.js.errors.NotFoundError:
            await nc.close()
            raise SourceConfigError(
                f"NATS has no JetStream stream {s.stream!r} (create it, e.g. "
                f"`nats stream add {s.stream} --subjects '{s.subject}'`)."
            ) from None
        try:
            try:
                await js.consumer_info(s.stream, s.durable)
            except nats.js.errors.NotFoundError:
                await js.add_consumer(s.stream, config=config)
            inbox = nc.new_inbox()
            await nc.subscribe(inbox, cb=self._on_delivery)
        except (TimeoutError, nats.errors.Error) as exc:
            await nc.close()
            raise SourceUnavailable(f"NATS refused the consumer {s.durable!r}: {exc}") from None
        return nc, inbox

    # nats-py's PullSubscription.fetch awaits each message of a batch on its own (a timer per
    # message): 3,000-3,700 records/s here. Pull requests answered into one inbox whose
    # callback collects the messages: 7,400 on the same loaded machine, 15,600 at load 11.6
    # (python -m bench.stream_sources --only nats).
    async def _on_delivery(self, msg: Msg) -> None:
        if JetStreamContext.is_status_msg(msg):  # 404 no messages, 408 expired, 409 …
            self._statuses += 1
        else:
            self._delivered.append(msg)
        self._signal.set()

    async def _request(self, batch: int, *, expires: float | None) -> None:
        body: dict[str, Any] = {"batch": batch}
        if expires is None:
            body["no_wait"] = True
        else:
            body["expires"] = int(expires * 1e9)
        await self._nc.publish(self._next_subject, json.dumps(body).encode(), reply=self._inbox)

    async def _wait(self, until: Callable[[], bool], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while not until():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._signal.clear()
            try:
                await asyncio.wait_for(self._signal.wait(), remaining)
            except TimeoutError:
                return

    async def _pull(self, max_messages: int, timeout: float) -> list[Msg]:
        """Up to ``max_messages``: what is there at once, else the first that comes in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            if not self._delivered:
                statuses = self._statuses
                await self._request(max_messages, expires=None)
                await self._wait(
                    lambda: self._statuses > statuses or len(self._delivered) >= max_messages,
                    deadline,
                )
            remaining = deadline - loop.time()
            if not self._delivered and remaining > 0.05:
                statuses = self._statuses
                await self._request(max_messages, expires=remaining - 0.01)
                await self._wait(
                    lambda: self._statuses > statuses or bool(self._delivered), deadline
                )
        except nats.errors.Error:  # closed or reconnecting: nothing now, the client reconnects
            await asyncio.sleep(max(0.0, min(deadline - loop.time(), RECONNECT_WAIT)))
        count = min(max_messages, len(self._delivered))
        return [self._delivered.popleft() for _ in range(count)]

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        timeout = max(timeout, 0.01)
        msgs = self._loop.run(self._pull(max_messages, timeout), timeout)
        out: list[Message] = []
        for msg in msgs:
            meta = msg.metadata
            seq = meta.sequence.stream
            self._outstanding[seq] = msg
            out.append(
                Message(
                    payload=msg.data,
                    coordinates=f"{meta.stream}/{seq}",
                    received_at=meta.timestamp.timestamp(),
                    token=seq,
                )
            )
        return out

    async def _ack(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()
        await self._nc.flush(timeout=10)

    def commit(self, messages: list[Message]) -> None:
        msgs = [self._outstanding[m.token] for m in messages if m.token in self._outstanding]
        if not msgs:
            return
        try:
            self._loop.run(self._ack(msgs), 10)
        except (TimeoutError, nats.errors.Error) as exc:
            raise SourceUnavailable(f"NATS did not take the acks: {exc!r}") from None
        for m in messages:
            self._outstanding.pop(m.token, None)

    def lag(self) -> int | None:
        try:
            info = self._loop.run(
                self._nc.jetstream().consumer_info(self.settings.stream, self.settings.durable), 5
            )
        except (TimeoutError, nats.errors.Error, SourceUnavailable):
            return None
        return int(info.num_pending or 0)

    async def _close(self) -> None:
        try:
            for msg in [*self._outstanding.values(), *self._delivered]:
                await msg.nak()
            await self._nc.flush(timeout=5)
        except (TimeoutError, nats.errors.Error):
            pass  # not nak'd: they come back after ack_wait
        await self._nc.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(self._close(), 10)
        finally:
            self._outstanding.clear()
            self._delivered.clear()
            self._loop.stop()


async def _produce(
    settings: NatsSettings, secret: str, payloads: Iterable[bytes | str], create: bool
) -> int:
    nc = await _connect(settings, secret, "pynomaly-produce")
    try:
        js = nc.jetstream()
        if create:
            try:
                await js.stream_info(settings.stream)
            except nats.js.errors.NotFoundError:
                await js.add_stream(name=settings.stream, subjects=[settings.subject])
        window: list[asyncio.Future] = []
        sent = 0
        for payload in payloads:
            data = payload.encode() if isinstance(payload, str) else payload
            window.append(await js.publish_async(settings.subject, data, wait_stall=30))
            sent += 1
            if len(window) >= 2000:
                await asyncio.gather(*window)
                window.clear()
        await asyncio.gather(*window)
        return sent
    except (TimeoutError, nats.errors.Error) as exc:
        raise SourceUnavailable(f"NATS did not take the records: {exc!r}") from None
    finally:
        await nc.close()


def produce(
    config: dict, secret: str, payloads: Iterable[bytes | str], *, create_stream: bool = False
) -> int:
    """Publish ``payloads`` to the config's subject, each acknowledged by JetStream.

    For tests, the benchmark and the demo. ``create_stream`` creates the JetStream stream
    (capturing just the subject) if it does not exist — for throw-away test streams only.
    """
    settings = check_config(config, default_durable="-")
    return _run(_produce(settings, secret, payloads, create_stream))


def delete_stream(config: dict, secret: str = "") -> None:
    """Remove a (test's) JetStream stream and its consumers."""
    settings = check_config(config, default_durable="-")

    async def run() -> None:
        nc = await _connect(settings, secret, "pynomaly-cleanup")
        try:
            await nc.jetstream().delete_stream(settings.stream)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    _run(run())


def _run(coro):
    """``asyncio.run``, in a fresh thread when this one already runs an event loop (an async
    caller, or Playwright's sync API in a test), which ``asyncio.run`` refuses."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
