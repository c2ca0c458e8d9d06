"""The network guard: refused addresses before and after DNS, and the checked IP is what we connect to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apps.common.netguard import HostRefused, resolve_allowed
from apps.sources.services import SourceError, source_create, source_pull, source_test

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def defaults(settings):
    """The built-in rules alone, as production has them: nothing extra allowed or denied."""
    settings.PYNOMALY_OUTBOUND_ALLOW = []
    settings.PYNOMALY_OUTBOUND_DENY = []
    return settings


def _resolving(monkeypatch, mapping: dict[str, list[str]]):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in mapping:
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port),
                )
                for ip in mapping[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("[::1]", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
    ],
)
def test_the_defaults_refuse_the_servers_own_network(defaults, host, reason):
    with pytest.raises(HostRefused) as err:
        resolve_allowed(host, 5432)
    assert reason in err.value.message
    assert "PYNOMALY_OUTBOUND_ALLOW" in err.value.message


def test_a_host_name_that_resolves_to_loopback_is_refused(defaults):
    with pytest.raises(HostRefused, match=r"localhost \(127\.0\.0\.1\).*loopback"):
        resolve_allowed("localhost", 5432)


def test_one_bad_address_among_good_ones_refuses_the_name(defaults, monkeypatch):
    _resolving(monkeypatch, {"db.example.test": ["93.184.216.34", "169.254.169.254"]})
    with pytest.raises(HostRefused, match="metadata"):
        resolve_allowed("db.example.test", 5432)


def test_public_and_private_addresses_pass_and_the_checked_ip_comes_back(defaults, monkeypatch):
    _resolving(monkeypatch, {"db.example.test": ["10.1.2.3"]})
    assert resolve_allowed("db.example.test", 5432) == "10.1.2.3"
    assert resolve_allowed("93.184.216.34", 3306) == "93.184.216.34"


def test_the_deny_list_wins_over_everything(settings, monkeypatch):
    settings.PYNOMALY_OUTBOUND_ALLOW = ["10.0.0.0/8"]
    settings.PYNOMALY_OUTBOUND_DENY = ["10.1.0.0/16", "evil.example.test"]
    _resolving(
        monkeypatch, {"db.example.test": ["10.1.2.3"], "evil.example.test": ["93.184.216.34"]}
    )
    with pytest.raises(HostRefused, match="deny list"):
        resolve_allowed("db.example.test", 5432)
    with pytest.raises(HostRefused, match="deny list"):
        resolve_allowed("evil.example.test", 5432)
    assert resolve_allowed("10.2.0.1", 5432) == "10.2.0.1"


def test_an_unknown_host_and_a_bad_port_are_clear_refusals(defaults):
    with pytest.raises(HostRefused, match="could not be resolved"):
        resolve_allowed("no-such-host.invalid", 5432)
    with pytest.raises(HostRefused, match="not a valid TCP port"):
        resolve_allowed("93.184.216.34", 70000)


def test_the_allow_setting_lets_loopback_through(settings):
    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    assert resolve_allowed("127.0.0.1", 5432) == "127.0.0.1"


def test_a_source_on_the_metadata_address_is_refused_with_the_reason(tenant_a, alice, defaults):
    source = source_create(
        tenant=tenant_a, user=alice,
        data={"name": "meta", "url": "postgresql://u:p@169.254.169.254/db", "table": "t"},
    )  # fmt: skip
    with pytest.raises(SourceError, match="metadata address"):
        source_test(source=source, user=alice)
    with pytest.raises(SourceError, match="metadata address"):
        source_pull(source=source, user=alice)
    source.refresh_from_db()
    assert "metadata address" in source.last_error


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    tenant_a, alice, settings, monkeypatch, pg_db
):
    """A name only our (faked) resolver knows: the driver could not resolve it, so the pull
    succeeding proves it connected to the IP the guard checked (hostaddr), not to a fresh lookup."""
    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    pg_db.execute("CREATE TABLE guarded (id INT)", "INSERT INTO guarded VALUES (1), (2)")
    _resolving(monkeypatch, {"pg.rebind.test": ["127.0.0.1"]})
    source = source_create(
        tenant=tenant_a,
        user=alice,
        data={"name": "rebind", "url": pg_db.url("pg.rebind.test"), "table": "guarded"},
    )
    assert source_pull(source=source, user=alice).rows == 2
    settings.PYNOMALY_OUTBOUND_ALLOW = []
    with pytest.raises(SourceError, match=r"pg\.rebind\.test \(127\.0\.0\.1\).*loopback"):
        source_pull(source=source, user=alice)


def test_production_allows_nothing_extra_by_default():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYNOMALY_OUTBOUND")}
    env.update(
        PYNOMALY_ENV="production", SECRET_KEY="x" * 60, ALLOWED_HOSTS="example.com",
        PYNOMALY_SECRETS_KEYS="bUVyMGNrWWxUbzN1bFA5b1NwdUlXbG5xR3RvY3kxd2s=",
    )  # fmt: skip
    code = "from django.conf import settings; print(repr(settings.PYNOMALY_OUTBOUND_ALLOW))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
