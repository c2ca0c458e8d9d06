"""Tamper evidence for the audit trail: every event carries a hash chained to the one before.

Each tenant's events form one chain (staff and global events, tenant NULL, form their own):
event n stores ``seq`` = n, ``prev_hash`` = the hash of event n-1 ("" for the first) and
``hash`` = sha256 over a canonical JSON of its own fields and ``prev_hash``. The append-only
triggers stop the application from changing the trail; the chain makes a change by someone
who can switch the triggers off (the table's owner) visible: an edited row no longer matches
its hash, a deleted one leaves a gap in ``seq`` and a broken link, a re-hashed row breaks the
link to its successor. Removing the newest events leaves a valid shorter chain; the head
(count and last hash) shown by the console and ``audit_verify`` is what an operator records
elsewhere to detect that.

Writers of one chain are serialised until their transaction commits (a transaction-level
advisory lock on PostgreSQL; SQLite runs one write transaction at a time, see
``transaction_mode`` in settings), and ``(tenant, seq)`` is unique, so two events can never
claim the same predecessor: at worst a writer fails, it never forks the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection

HASH_VERSION = 1
# pg_advisory_xact_lock(int, int): a fixed first key for the audit chains, the tenant second.
_LOCK_CLASS = 0x61756474  # "audt"
_GLOBAL_CHAIN = 0


def canonical_details(details: dict[str, Any]) -> Any:
    """The details as the database gives them back (JSON types only), for hashing."""
    return json.loads(json.dumps(details))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    seq: int,
    prev_hash: str,
    created_at: datetime,
    tenant_id: int | None,
    actor_id: int | None,
    actor_repr: str,
    action: str,
    target_type: str,
    target_id: str,
    ip: str | None,
    details: Any,
) -> str:
    payload = {
        "v": HASH_VERSION,
        "seq": seq,
        "prev": prev_hash,
        "at": _stamp(created_at),
        "tenant": tenant_id,
        "actor": actor_id,
        "actor_repr": actor_repr,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "ip": ip,
        "details": details,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_of(event) -> str:
    """The hash an event (a model instance, current or historical) should carry."""
    return event_hash(
        seq=event.seq,
        prev_hash=event.prev_hash,
        created_at=event.created_at,
        tenant_id=event.tenant_id,
        actor_id=event.actor_id,
        actor_repr=event.actor_repr,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        ip=event.ip,
        details=event.details,
    )


def lock_chain(tenant_id: int | None) -> None:
    """Hold the chain's writer lock until the surrounding transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_LOCK_CLASS, tenant_id if tenant_id is not None else _GLOBAL_CHAIN],
            )
    # SQLite: the transaction already holds the database's single write lock (IMMEDIATE).


# ---------------------------------------------------------------- verification
@dataclass(frozen=True)
class Break:
    """The first link of a chain that does not hold."""

    tenant_id: int | None
    event_id: int
    created_at: datetime
    seq: int
    problem: str

    def __str__(self) -> str:
        chain = f"tenant {self.tenant_id}" if self.tenant_id is not None else "global"
        return (
            f"{chain} chain broken at event {self.event_id} (#{self.seq}, "
            f"{_stamp(self.created_at)}): {self.problem}"
        )


@dataclass
class Verification:
    events: int = 0
    chains: int = 0
    breaks: list[Break] = field(default_factory=list)
    heads: dict[int | None, str] = field(default_factory=dict)  # tenant id -> last hash

    @property
    def intact(self) -> bool:
        return not self.breaks


_FIELDS = (
    "id",
    "seq",
    "prev_hash",
    "hash",
    "created_at",
    "tenant_id",
    "actor_id",
    "actor_repr",
    "action",
    "target_type",
    "target_id",
    "ip",
    "details",
)


def _check(event, previous) -> str:
    """What is wrong with ``event`` given the event before it in its chain ("" if nothing)."""
    expected_seq = previous.seq + 1 if previous is not None else 1
    if event.seq != expected_seq:
        missing = event.seq - expected_seq
        if missing > 0:
            return f"{missing} event(s) missing before it (expected #{expected_seq})"
        return f"sequence number #{event.seq} repeats or goes back (expected #{expected_seq})"
    expected_prev = previous.hash if previous is not None else ""
    if event.prev_hash != expected_prev:
        return "its link to the previous event does not match that event's hash"
    if hash_of(event) != event.hash:
        return "its content no longer matches its hash (a field was changed)"
    return ""


def verify(events) -> Verification:
    """Walk every chain in ``events`` (an AuditEvent queryset) and report the first break of each."""
    result = Verification()
    previous = None
    broken = False
    rows = events.order_by("tenant_id", "seq", "id").only(*_FIELDS)
    for event in rows.iterator(chunk_size=2000):
        if previous is None or event.tenant_id != previous.tenant_id:
            result.chains += 1
            previous, broken = None, False
        result.events += 1
        if not broken:
            problem = _check(event, previous)
            if problem:
                broken = True
                result.breaks.append(
                    Break(event.tenant_id, event.id, event.created_at, event.seq, problem)
                )
        result.heads[event.tenant_id] = event.hash
        previous = event
    return result
