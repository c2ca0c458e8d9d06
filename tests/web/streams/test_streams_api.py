"""/api/v1/streams: CRUD for admins, anomalies with a since cursor, and HTTP push into the Redis stream."""

from __future__ import annotations

import json

import orjson
import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.streams import push
from apps.streams.models import Stream
from tests.web.api.conftest import assert_problem, make_token
from tests.web.streams.support import (
    PASSWORD,
    make_push_stream,
    make_stream,
    online,
    store_history,
)

pytestmark = pytest.mark.django_db


def test_an_admin_creates_reads_changes_and_deletes_a_stream(adam_api, tenant_a):
    body = {**online(), "password": PASSWORD}
    created = adam_api.post("/streams", body)
    assert created.status_code == 201, created.content
    out = created.json()
    assert out["password_set"] is True and PASSWORD not in created.content.decode()
    assert out["push_token"] is None and out["stats"]["status"] == "active"
    sid = out["id"]
    got = adam_api.get(f"/streams/{sid}")
    assert got.status_code == 200 and PASSWORD not in got.content.decode()
    changed = adam_api.patch(f"/streams/{sid}", {"config": {"group": "g2"}, "threshold": 0.9})
    assert changed.status_code == 200
    assert changed.json()["config"]["group"] == "g2"
    assert changed.json()["config"]["key"] == "pyn-test:sensors"  # the other keys stay
    assert adam_api.post(f"/streams/{sid}/pause").json()["status"] == "paused"
    assert adam_api.post(f"/streams/{sid}/resume").json()["status"] == "active"
    assert [s["id"] for s in adam_api.get("/streams").json()["items"]] == [sid]
    assert adam_api.delete(f"/streams/{sid}").status_code == 204
    assert not Stream.objects.filter(pk=sid).exists()


def test_bad_settings_answer_422_naming_the_config_field(adam_api, tenant_a):
    response = adam_api.post("/streams", online(config={"url": "redis://127.0.0.1"}))
    problem = assert_problem(response, 422)
    assert {"loc": ["body", "config", "key"], "msg": problem["errors"][0]["msg"]} in problem[
        "errors"
    ]


def test_analysts_and_viewers_cannot_create_or_pause(bob_api, vera_api, alice, tenant_a):
    stream = make_stream(tenant_a, alice)
    assert_problem(bob_api.post("/streams", online(name="x")), 403)
    assert_problem(bob_api.post(f"/streams/{stream.pk}/pause"), 403)
    assert_problem(vera_api.post(f"/streams/{stream.pk}/pause"), 403)
    assert vera_api.get(f"/streams/{stream.pk}").status_code == 200


def test_another_workspace_gets_404(charlie_api, alice, tenant_a, tenant_b):
    stream = make_stream(tenant_a, alice)
    for path in ("", "/anomalies", "/dead-letters", "/stats"):
        assert_problem(charlie_api.get(f"/streams/{stream.pk}{path}"), 404)
    assert_problem(charlie_api.delete(f"/streams/{stream.pk}"), 404)
    assert charlie_api.get("/streams").json()["items"] == []


def test_anomalies_tail_with_the_since_cursor(alice_api, alice, tenant_a):
    stream = make_stream(tenant_a, alice)
    made = store_history(stream, anomalies=3)
    first = alice_api.get(f"/streams/{stream.pk}/anomalies", {"limit": 2}).json()
    assert [a["event_id"] for a in first["items"]] == ["evt-1", "evt-2"]  # the newest, oldest first
    assert first["next_since"] == made[-1].pk and first["next_before"] == made[1].pk
    older = alice_api.get(f"/streams/{stream.pk}/anomalies", {"before": first["next_before"]})
    assert [a["event_id"] for a in older.json()["items"]] == ["evt-0"]
    tail = alice_api.get(f"/streams/{stream.pk}/anomalies", {"since": first["next_since"]}).json()
    assert tail["items"] == [] and tail["next_since"] == made[-1].pk
    from apps.streams.models import StreamAnomaly

    new = StreamAnomaly.objects.create(
        tenant=tenant_a, stream=stream, event_id="late", event_time=made[0].event_time,
        score=2.0, severity=1.0, reasons=[], record={"temperature": 200},
    )  # fmt: skip
    tail = alice_api.get(f"/streams/{stream.pk}/anomalies", {"since": first["next_since"]}).json()
    assert [a["event_id"] for a in tail["items"]] == ["late"] and tail["next_since"] == new.pk
    assert tail["items"][0]["record"] == {"temperature": 200}


def test_stats_give_the_figures_and_the_per_second_history(alice_api, alice, tenant_a):
    stream = make_stream(tenant_a, alice, threshold=0.75)
    store_history(stream, seconds=4)
    out = alice_api.get(f"/streams/{stream.pk}/stats", {"seconds": 60}).json()
    assert out["threshold"] == 0.75 and out["stats"]["lag"] == 7
    assert len(out["buckets"]) == 4 and out["buckets"][0]["score_mean"] == 0.25


# ---------------------------------------------------------------- HTTP push
def _push(stream_id, body: bytes, token: str | None, content_type="application/json", **extra):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().post(
        f"/api/v1/streams/{stream_id}/events", body, content_type=content_type, headers=headers,
        **extra,
    )  # fmt: skip


def _entries(stream_id) -> list[dict]:
    client = push.redis_client()
    return [orjson.loads(f[b"data"]) for _id, f in client.xrange(push.push_key(stream_id))]


def test_a_json_array_is_accepted_and_lands_in_the_redis_stream(alice, tenant_a, push_keys):
    stream, token = make_push_stream(tenant_a, alice)
    push_keys.append(stream.pk)
    records = [{"x": 1.5, "id": "a"}, {"x": 2.5, "id": "b"}]
    response = _push(stream.pk, json.dumps(records).encode(), token)
    assert response.status_code == 202 and response.json() == {"accepted": 2}
    assert _entries(stream.pk) == records


def test_ndjson_is_accepted_line_by_line(alice, tenant_a, push_keys):
    stream, token = make_push_stream(tenant_a, alice)
    push_keys.append(stream.pk)
    body = b'{"x": 1}\n\n{"x": 2}\n{"x": 3}\n'
    response = _push(stream.pk, body, token, content_type="application/x-ndjson")
    assert response.status_code == 202 and response.json() == {"accepted": 3}
    assert [e["x"] for e in _entries(stream.pk)] == [1, 2, 3]


def test_a_bad_or_foreign_token_gets_401_and_nothing_is_written(alice, tenant_a, push_keys):
    stream, token = make_push_stream(tenant_a, alice)
    other, other_token = make_push_stream(tenant_a, alice, name="other")
    push_keys += [stream.pk, other.pk]
    user_token = make_token(alice, tenant_a)[1]  # a user's API token is not a push token
    for bad in (None, "pys_nope", other_token, user_token):
        problem = assert_problem(_push(stream.pk, b'[{"x": 1}]', bad), 401)
        assert "push token" in problem["detail"]
    assert _entries(stream.pk) == []


def test_too_large_bodies_and_too_many_records_get_413(alice, tenant_a, push_keys, settings):
    stream, token = make_push_stream(tenant_a, alice)
    push_keys.append(stream.pk)
    settings.STREAM_PUSH_MAX_BYTES = 1000
    big = json.dumps([{"x": i, "pad": "y" * 50} for i in range(30)]).encode()
    assert "push limit" in assert_problem(_push(stream.pk, big, token), 413)["detail"]
    settings.STREAM_PUSH_MAX_BYTES = 1 << 20
    settings.STREAM_PUSH_MAX_RECORDS = 5
    many = json.dumps([{"x": i} for i in range(6)]).encode()
    assert "at most 5" in assert_problem(_push(stream.pk, many, token), 413)["detail"]
    assert _entries(stream.pk) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"[{'x': 1}]", "application/json", 400, "not valid JSON"),
        (b'{"x": 1}', "application/json", 422, "JSON array"),
        (b'[{"x": 1}, 5]', "application/json", 422, "Record 1"),
        (b'{"x": 1}\n{"x": \n', "application/x-ndjson", 400, "Line 2"),
        (b'{"x": 1}\n[1]\n', "application/x-ndjson", 422, "Line 2"),
        (b"[]", "application/json", 422, "no record"),
        (b"x=1", "text/plain", 415, "Content-Type"),
    ],
)
def test_a_bad_body_is_refused_whole_with_the_reason(
    alice, tenant_a, push_keys, body, content_type, status, words
):
    stream, token = make_push_stream(tenant_a, alice)
    push_keys.append(stream.pk)
    problem = assert_problem(_push(stream.pk, body, token, content_type=content_type), status)
    assert words in problem["detail"]
    assert _entries(stream.pk) == []


def test_push_has_its_own_rate_limit(alice, tenant_a, push_keys, settings):
    stream, token = make_push_stream(tenant_a, alice)
    push_keys.append(stream.pk)
    settings.API_RATE_PUSH = "2/min"
    settings.API_RATE_PER_TOKEN = settings.API_RATE_PER_IP = "1/min"  # not what push counts
    assert _push(stream.pk, b'[{"x": 1}]', token).status_code == 202
    assert _push(stream.pk, b'[{"x": 2}]', token).status_code == 202
    limited = _push(stream.pk, b'[{"x": 3}]', token)
    assert_problem(limited, 429)
    assert int(limited["Retry-After"]) >= 1
    assert len(_entries(stream.pk)) == 2


def test_a_full_backlog_refuses_with_503(alice, tenant_a, push_keys, settings):
    stream, token = make_push_stream(tenant_a, alice)
    push_keys.append(stream.pk)
    settings.STREAM_PUSH_MAX_BACKLOG = 3
    assert _push(stream.pk, b'[{"x": 1}, {"x": 2}]', token).status_code == 202
    assert (
        "wait to be scored"
        in assert_problem(_push(stream.pk, b'[{"x": 3}, {"x": 4}]', token), 503)["detail"]
    )


def test_the_push_endpoint_is_documented_in_openapi(db):
    schema = Client().get("/api/v1/openapi.json").json()
    op = schema["paths"]["/api/v1/streams/{stream_id}/events"]["post"]
    assert set(op["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    assert {"401", "413", "422"} <= set(op["responses"])


def test_creating_and_rotating_push_tokens_through_the_api_is_audited(adam_api, tenant_a):
    created = adam_api.post("/streams", {"name": "p", "kind": "http", "learner": "hst",
                                         "columns": ["x"]}).json()  # fmt: skip
    assert created["push_token"].startswith("pys_")
    assert adam_api.get(f"/streams/{created['id']}").json()["push_token"] is None
    rotated = adam_api.post(f"/streams/{created['id']}/push-token").json()["push_token"]
    assert rotated != created["push_token"]
    assert AuditEvent.objects.filter(action="stream.push_token_rotated").count() == 1
    assert created["push_token"] not in str(list(AuditEvent.objects.values_list("details")))
