"""Stream services: each kind's settings checked, secrets encrypted and never shown, audit, model rules."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.common import secrets
from apps.common.tokens import token_hash
from apps.streams.models import Stream
from apps.streams.services import (
    StreamError,
    stream_connection,
    stream_create,
    stream_delete,
    stream_for_push_token,
    stream_pause,
    stream_resume,
    stream_rotate_token,
    stream_update,
)
from tests.web.streams.support import PASSWORD, make_stream, online

pytestmark = pytest.mark.django_db


def _errors(data, tenant, user) -> dict:
    with pytest.raises(StreamError) as caught:
        stream_create(tenant=tenant, user=user, data=data)
    return caught.value.message_dict


def test_it_creates_a_redis_stream_and_moves_the_url_password_into_the_encrypted_field(
    tenant_a, alice
):
    url = f"redis://:{PASSWORD}@127.0.0.1:6379/2"
    stream, token = stream_create(
        tenant=tenant_a, user=alice, data=online(config={"url": url, "key": "k"})
    )
    assert token is None
    assert stream.config == {"url": "redis://127.0.0.1:6379/2", "key": "k", "group": "pynomaly"}
    assert PASSWORD not in str(stream.config)
    assert PASSWORD not in stream.secret_encrypted
    assert secrets.decrypt(stream.secret_encrypted) == PASSWORD
    assert stream_connection(stream).password == PASSWORD
    event = AuditEvent.objects.get(action="stream.created")
    assert PASSWORD not in str(event.details) and event.details["credentials_stored"] is True


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("redis", {"url": "http://127.0.0.1", "key": "k"}, "config.url"),
        ("redis", {"url": "redis://127.0.0.1:6379/0"}, "config.key"),
        ("kafka", {"bootstrap_servers": "127.0.0.1:9092"}, "config.topic"),
        ("kafka", {"bootstrap_servers": "not a host:x", "topic": "t"}, "config.bootstrap_servers"),
        (
            "kafka",
            {"bootstrap_servers": "127.0.0.1:9092", "topic": "t", "security_protocol": "SASL_SSL"},
            "config.sasl_mechanism",
        ),  # fmt: skip
        ("mqtt", {"host": "127.0.0.1", "topic": "a/#/b"}, "config.topic"),
        ("mqtt", {"host": "127.0.0.1", "topic": "a/+", "qos": 3}, "config.qos"),
        ("nats", {"servers": "nats://127.0.0.1:4222", "subject": "s"}, "config.stream"),
        (
            "nats",
            {"servers": "nats://u:p@127.0.0.1:4222", "stream": "S", "subject": "s"},
            "config.servers",
        ),  # fmt: skip
        ("redis", {"url": "redis://127.0.0.1:6379/0", "key": "k", "topic": "x"}, "config"),
    ],
)
def test_it_names_the_bad_setting_of_each_kind(tenant_a, alice, kind, config, field):
    errors = _errors(online(kind=kind, config=config), tenant_a, alice)
    assert field in errors, errors


def test_it_accepts_every_broker_kind(tenant_a, alice):
    configs = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "readings",
                  "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
                  "username": "svc"},
        "mqtt": {"host": "127.0.0.1", "topic": "plant/+/temp", "qos": 2, "tls": True},
        "nats": {"servers": "nats://127.0.0.1:4222", "stream": "READINGS", "subject": "r.>"},
    }  # fmt: skip
    for kind, config in configs.items():
        stream, _ = stream_create(
            tenant=tenant_a, user=alice,
            data=online(name=kind, kind=kind, config=config, password=PASSWORD),
        )  # fmt: skip
        assert secrets.decrypt(stream.secret_encrypted) == PASSWORD
    mqtt = Stream.objects.get(name="mqtt")
    assert mqtt.config["port"] == 8883  # TLS default


def test_the_network_guard_refuses_the_metadata_address(tenant_a, alice):
    errors = _errors(
        online(kind="mqtt", config={"host": "169.254.169.254", "topic": "t"}), tenant_a, alice
    )
    assert "metadata" in errors["config.host"][0]


def test_a_model_stream_needs_a_model_of_the_same_workspace(tenant_a, alice, tenant_b, charlie,
                                                            tmp_path, settings):  # fmt: skip
    from tests.web.detectors.test_scoring import register, train

    settings.MEDIA_ROOT = str(tmp_path)
    theirs = register(tenant_b, charlie, train("iforest"), tmp_path)
    errors = _errors(online(learner="model", model=theirs.pk), tenant_a, alice)
    assert "model" in errors
    ours = register(tenant_a, alice, train("iforest"), tmp_path, name="ours")
    stream, _ = stream_create(
        tenant=tenant_a, user=alice, data=online(learner="model", model=ours.pk)
    )
    assert stream.model == ours and stream.columns == []


def test_an_online_learner_needs_its_columns(tenant_a, alice):
    assert "columns" in _errors(online(columns=[]), tenant_a, alice)


def test_names_are_unique_per_workspace_and_the_kind_cannot_change(tenant_a, alice):
    stream = make_stream(tenant_a, alice)
    assert "name" in _errors(online(), tenant_a, alice)
    with pytest.raises(StreamError) as caught:
        stream_update(stream=stream, user=alice, data={"kind": "kafka"})
    assert "kind" in caught.value.message_dict


def test_a_blank_password_keeps_the_stored_one_and_clear_removes_it(tenant_a, alice):
    stream = make_stream(tenant_a, alice, password=PASSWORD)
    stream = stream_update(stream=stream, user=alice, data={"password": "", "threshold": 0.7})
    assert secrets.decrypt(stream.secret_encrypted) == PASSWORD
    assert stream.threshold == 0.7
    stream = stream_update(stream=stream, user=alice, data={"clear_password": True})
    assert stream.secret_encrypted == ""
    changed = AuditEvent.objects.filter(action="stream.updated").order_by("-id").first()
    assert changed.details["changed"] == ["password"]


def test_http_push_gets_a_token_shown_once_stored_as_its_hash(tenant_a, alice):
    stream, token = stream_create(
        tenant=tenant_a, user=alice,
        data={"name": "push", "kind": "http", "learner": "hst", "columns": ["x"]},
    )  # fmt: skip
    assert token.startswith("pys_") and stream.push_token_hash == token_hash(token)
    assert stream_for_push_token(token) == stream
    new = stream_rotate_token(stream=stream, user=alice)
    assert stream_for_push_token(token) is None
    assert stream_for_push_token(new) == stream
    assert AuditEvent.objects.filter(action="stream.push_token_rotated").count() == 1


def test_pause_resume_and_delete_are_audited(tenant_a, alice):
    stream = make_stream(tenant_a, alice)
    assert stream_pause(stream=stream, user=alice).status == "paused"
    stream_pause(stream=stream, user=alice)  # already paused: nothing new happens
    assert stream_resume(stream=stream, user=alice).status == "active"
    stream_delete(stream=stream, user=alice)
    actions = list(
        AuditEvent.objects.filter(action__startswith="stream.").values_list("action", flat=True)
    )
    assert sorted(actions) == sorted(
        ["stream.created", "stream.paused", "stream.resumed", "stream.deleted"]
    )
    assert not Stream.objects.filter(pk=stream.pk).exists()


def test_reencrypt_moves_broker_passwords_to_the_new_key(tenant_a, alice, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PYNOMALY_SECRETS_KEYS = [old]
    stream = make_stream(tenant_a, alice, password=PASSWORD)
    settings.PYNOMALY_SECRETS_KEYS = [new, old]
    call_command("reencrypt_secrets")
    settings.PYNOMALY_SECRETS_KEYS = [new]
    stream.refresh_from_db()
    assert secrets.decrypt(stream.secret_encrypted) == PASSWORD
