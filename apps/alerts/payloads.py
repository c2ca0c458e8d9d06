"""What a notification says: one JSON document per delivery, and its Slack and e-mail forms."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from .models import Delivery

TOP_ANOMALIES = 10


def absolute(path: str) -> str:
    return settings.PUBLIC_URL.rstrip("/") + path


def _monitor_url(monitor) -> str:
    try:
        return absolute(
            reverse(
                "monitors:detail",
                kwargs={"tenant_slug": monitor.tenant.slug, "monitor_id": monitor.pk},
            )
        )
    except NoReverseMatch:  # the monitors pages are another app's; the alert link always works
        return ""


def _stream_url(stream) -> str:
    try:
        return absolute(stream.url())
    except NoReverseMatch:  # the stream pages are another app's; the alert link always works
        return ""


def build(delivery: Delivery) -> dict[str, Any]:
    """The webhook body (and the source of every other form) for one delivery.

    A monitor's alert carries ``monitor`` and ``execution``; a stream's carries ``stream``
    and ``window`` (the closed window of event time that matched) instead.
    """
    alert, trigger, rule = delivery.alert, delivery.trigger, delivery.trigger.rule
    link = absolute(alert.url())
    body: dict[str, Any] = {
        "idempotency_key": str(delivery.key),
        "event": "alert.triggered",
        "sent_at": timezone.now().isoformat(),
        "tenant": {"slug": alert.tenant.slug, "name": alert.tenant.name},
        "alert": {
            "id": alert.pk,
            "title": alert.title,
            "state": alert.state,
            "occurrences": alert.occurrences,
            "first_seen_at": alert.first_seen_at.isoformat(),
            "last_seen_at": alert.last_seen_at.isoformat(),
            "reasons": trigger.reasons,
            "url": link,
        },
        "rule": {"id": rule.pk, "name": rule.name, "conditions": rule.conditions()},
        "link": link,
    }
    if trigger.execution is not None and alert.monitor is not None:
        return body | _execution_part(trigger.execution, alert.monitor, alert.occurrences)
    assert alert.stream is not None and trigger.stream_window is not None
    return body | _stream_part(alert.stream, trigger.stream_window, alert.occurrences)


def _execution_part(execution, monitor, occurrences: int) -> dict[str, Any]:
    run = execution.run
    summary = (run.summary if run is not None else None) or {}
    drift_features = sorted(
        name
        for name, verdict in (execution.drift or {}).get("features", {}).items()
        if isinstance(verdict, dict) and verdict.get("drifted")
    )
    return {
        "monitor": {"id": monitor.pk, "name": monitor.name, "url": _monitor_url(monitor)},
        "execution": {
            "id": execution.pk,
            "number": execution.number,
            "status": execution.status,
            "rows": execution.rows,
            "anomalies": execution.anomalies,
            "max_severity": execution.max_severity,
            "flagged_share": execution.flagged_share,
            "drift_detected": execution.drift_detected,
            "drifted_features": drift_features,
            "error": execution.error,
            "run_id": execution.run_id,
            "finished_at": execution.finished_at.isoformat() if execution.finished_at else None,
        },
        "counts": {
            "rows": execution.rows,
            "anomalies": execution.anomalies,
            "occurrences": occurrences,
        },
        "top_anomalies": [
            {"row": t.get("row"), "score": t.get("score"), "severity": t.get("severity")}
            for t in (summary.get("top") or [])[:TOP_ANOMALIES]
        ],
    }


def _stream_part(stream, window_start, occurrences: int) -> dict[str, Any]:
    from datetime import timedelta

    from django.db.models import Max, Sum

    seconds = int(getattr(settings, "STREAMS_ALERT_WINDOW_SECONDS", 60))
    window_end = window_start + timedelta(seconds=seconds)
    in_window = {"event_time__gte": window_start, "event_time__lt": window_end}
    totals = stream.buckets.filter(start__gte=window_start, start__lt=window_end).aggregate(
        records=Sum("records"), flagged=Sum("flagged")
    )
    anomalies = stream.anomalies.filter(**in_window)
    records, flagged = int(totals["records"] or 0), int(totals["flagged"] or 0)
    drift_at = (stream.state or {}).get("drift_at") or {}
    top = anomalies.order_by("-score", "-id")[:TOP_ANOMALIES]
    return {
        "stream": {
            "id": stream.pk,
            "name": stream.name,
            "kind": stream.kind,
            "url": _stream_url(stream),
        },
        "window": {
            "start": window_start.isoformat(),
            "end": window_end.isoformat(),
            "seconds": seconds,
            "records": records,
            "anomalies": flagged,
            "max_severity": anomalies.aggregate(m=Max("severity"))["m"],
            "flagged_share": flagged / records if records else None,
            "drifted_features": sorted(drift_at),
        },
        "counts": {"rows": records, "anomalies": flagged, "occurrences": occurrences},
        "top_anomalies": [
            {"event_id": a.event_id, "score": a.score, "severity": a.severity} for a in top
        ],
    }


def headline(payload: dict[str, Any]) -> str:
    a = payload["alert"]
    if "stream" in payload:
        w = payload["window"]
        return (
            f"[Pynomaly] {a['title']} — stream {payload['stream']['name']} at {w['start'][:19]} UTC"
        )
    m, e = payload["monitor"], payload["execution"]
    return f"[Pynomaly] {a['title']} — {m['name']} execution #{e['number']}"


def text(payload: dict[str, Any]) -> str:
    """Plain text for e-mail and in-app notices."""
    a = payload["alert"]
    lines = [headline(payload), "", "Why: " + ("; ".join(a["reasons"]) or "the rule matched")]
    if "stream" in payload:
        w = payload["window"]
        lines.append(
            f"Records {w['records']:,} in {w['seconds']} s, anomalies {w['anomalies']:,}"
            + (f", max severity {w['max_severity']:.3g}" if w["max_severity"] is not None else "")
            + (f", flagged {w['flagged_share']:.2%}" if w["flagged_share"] is not None else "")
        )
        if w["drifted_features"]:
            lines.append("Drift in: " + ", ".join(w["drifted_features"]))
    else:
        e = payload["execution"]
        lines.append(
            f"Rows {e['rows']:,}, anomalies {e['anomalies']:,}"
            + (f", max severity {e['max_severity']:.3g}" if e["max_severity"] is not None else "")
            + (f", flagged {e['flagged_share']:.2%}" if e["flagged_share"] is not None else "")
        )
        if e["drift_detected"]:
            lines.append("Drift in: " + (", ".join(e["drifted_features"]) or "the data"))
        if e["error"]:
            lines.append(f"Error: {e['error']}")
    if a["occurrences"] > 1:
        lines.append(f"Seen {a['occurrences']} times since {a['first_seen_at'][:19]} UTC")
    top = payload["top_anomalies"][:5]
    if top and "stream" in payload:
        lines.append(
            "Top events: " + ", ".join(f"{t['event_id']} (score {t['score']:.3g})" for t in top)
        )
    elif top:
        lines.append(
            "Top rows: "
            + ", ".join(
                f"#{t['row']} (score {t['score']:.3g})" for t in top if t["row"] is not None
            )
        )
    lines += ["", f"Open the alert: {payload['link']}", f"Key: {payload['idempotency_key']}"]
    return "\n".join(lines)


def slack(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message (text + blocks) carrying the same facts."""
    body = text(payload)
    return {
        "text": headline(payload),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline(payload)}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body.split("\n", 2)[-1]}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{payload['link']}|Open the alert>"},
                    {"type": "plain_text", "text": f"key {payload['idempotency_key']}"},
                ],
            },
        ],
        "idempotency_key": payload["idempotency_key"],
    }
