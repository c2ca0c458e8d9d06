"""The alerting sections of a :class:`~pynomaly.client.Client`: ``client.alerts``,
``client.alert_rules`` and ``client.channels``."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .objects import _Resource

if TYPE_CHECKING:
    from .session import Client


@dataclass
class Alert(_Resource):
    id: int | None = None
    title: str | None = None
    state: str | None = None
    rule_id: int | None = None
    monitor_id: int | None = None
    reasons: list[str] | None = None
    occurrences: int | None = None
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    snoozed_until: str | None = None
    url: str | None = None


@dataclass
class AlertRule(_Resource):
    id: int | None = None
    monitor_id: int | None = None
    name: str | None = None
    conditions: list[str] | None = None
    match: str | None = None
    cooldown_seconds: int | None = None
    enabled: bool | None = None
    channel_ids: list[int] | None = None


@dataclass
class Channel(_Resource):
    id: int | None = None
    name: str | None = None
    kind: str | None = None
    enabled: bool | None = None
    url: str | None = None
    format: str | None = None
    recipients: list[str] | None = None
    roles: list[str] | None = None
    # Only after create / rotate_secret of a webhook: the server never shows it again.
    secret: str | None = None


class _Section:
    def __init__(self, client: Client) -> None:
        self.client = client


class Alerts(_Section):
    def list(self, *, state: str | None = None, monitor_id: int | None = None,
             limit: int | None = None) -> list[Alert]:  # fmt: skip
        """``state``: open, acknowledged, resolved or unresolved (open + acknowledged)."""
        items = self.client.pages("/alerts", limit=limit, state=state, monitor_id=monitor_id)
        return [Alert.from_json(a) for a in items]

    def get(self, alert_id: int) -> Alert:
        return Alert.from_json(self.client.get_json(f"/alerts/{int(alert_id)}"))

    def acknowledge(self, alert_id: int) -> Alert:
        return self._post(alert_id, "acknowledge")

    def snooze(self, alert_id: int, *, hours: float | None = None,
               until: datetime | str | None = None) -> Alert:  # fmt: skip
        if (hours is None) == (until is None):
            raise ValueError("give exactly one of hours and until")
        body: dict[str, Any] = {"hours": hours} if hours is not None else {"until": until}
        return self._post(alert_id, "snooze", body)

    def resolve(self, alert_id: int) -> Alert:
        return self._post(alert_id, "resolve")

    def deliveries(self, alert_id: int) -> builtins.list[dict[str, Any]]:
        """The delivery log: one entry per attempt (channel, status, response code, latency)."""
        items: builtins.list[dict[str, Any]] = self.client.get_json(
            f"/alerts/{int(alert_id)}/deliveries"
        )["items"]
        return items

    def _post(self, alert_id: int, action: str, body: dict[str, Any] | None = None) -> Alert:
        response = self.client.request("POST", f"/alerts/{int(alert_id)}/{action}", json_body=body)
        return Alert.from_json(response.json())


class AlertRules(_Section):
    def list(self, monitor_id: int) -> list[AlertRule]:
        items = self.client.pages(f"/monitors/{int(monitor_id)}/rules")
        return [AlertRule.from_json(r) for r in items]

    def create(self, monitor_id: int, name: str, **fields: Any) -> AlertRule:
        """``fields``: min_anomalies, min_severity, min_flagged_share, on_drift, on_failure,
        match ("all"/"any"), cooldown_seconds, enabled, channel_ids."""
        response = self.client.request(
            "POST", f"/monitors/{int(monitor_id)}/rules", json_body={"name": name, **fields}
        )
        return AlertRule.from_json(response.json())

    def update(self, monitor_id: int, rule_id: int, **fields: Any) -> AlertRule:
        response = self.client.request(
            "PATCH", f"/monitors/{int(monitor_id)}/rules/{int(rule_id)}", json_body=fields
        )
        return AlertRule.from_json(response.json())

    def delete(self, monitor_id: int, rule_id: int) -> None:
        self.client.request("DELETE", f"/monitors/{int(monitor_id)}/rules/{int(rule_id)}")


class Channels(_Section):
    def list(self) -> list[Channel]:
        return [Channel.from_json(c) for c in self.client.pages("/channels")]

    def get(self, channel_id: int) -> Channel:
        return Channel.from_json(self.client.get_json(f"/channels/{int(channel_id)}"))

    def create(self, name: str, kind: str, **fields: Any) -> Channel:
        """``kind``: email (recipients, roles), webhook (url, format "json"/"slack") or inapp."""
        response = self.client.request(
            "POST", "/channels", json_body={"name": name, "kind": kind, **fields}
        )
        return Channel.from_json(response.json())

    def update(self, channel_id: int, **fields: Any) -> Channel:
        response = self.client.request("PATCH", f"/channels/{int(channel_id)}", json_body=fields)
        return Channel.from_json(response.json())

    def rotate_secret(self, channel_id: int) -> Channel:
        response = self.client.request("POST", f"/channels/{int(channel_id)}/rotate-secret")
        return Channel.from_json(response.json())

    def delete(self, channel_id: int) -> None:
        self.client.request("DELETE", f"/channels/{int(channel_id)}")
