"""The Pynomaly connection: ``host`` is the server's URL, ``password`` an API token."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from pynomaly.client import ApiError, Client


class PynomalyHook(BaseHook):
    """A :class:`pynomaly.client.Client` built from an Airflow connection.

    The connection (type ``pynomaly``) holds the server URL in *Host*
    (``https://pynomaly.example.com``; without a scheme ``https://`` is assumed and *Port* is
    appended when set) and an API token (``pyn_...``) in *Password*. The token names the
    workspace, so the connection does too.
    """

    conn_name_attr = "pynomaly_conn_id"
    default_conn_name = "pynomaly_default"
    conn_type = "pynomaly"
    hook_name = "Pynomaly"

    def __init__(self, pynomaly_conn_id: str = default_conn_name, *, timeout: float = 30) -> None:
        super().__init__()
        self.pynomaly_conn_id = pynomaly_conn_id
        self.timeout = timeout
        self._client: Client | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "extra"],
            "relabeling": {"host": "Server URL", "password": "API token"},
            "placeholders": {"host": "https://pynomaly.example.com", "password": "pyn_..."},
        }

    def get_conn(self) -> Client:
        if self._client is None:
            conn = self.get_connection(self.pynomaly_conn_id)
            host = (conn.host or "").strip()
            if not host:
                raise ValueError(
                    f"connection {self.pynomaly_conn_id!r} has no host: set it to the server's "
                    "URL, e.g. https://pynomaly.example.com"
                )
            if not conn.password:
                raise ValueError(
                    f"connection {self.pynomaly_conn_id!r} has no password: set it to an API "
                    "token (pyn_...) from the server's token page"
                )
            url = host if "://" in host else f"https://{host}"
            if conn.port and "://" not in host:
                url = f"{url}:{conn.port}"
            self._client = Client(url, conn.password, timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def test_connection(self) -> tuple[bool, str]:
        """The UI's *Test* button: who the token belongs to, or the server's refusal."""
        try:
            me = self.get_conn().me()
        except (ApiError, ValueError) as exc:
            return False, str(exc)
        tenant = (me.tenant or {}).get("slug", "?")
        return True, f"Connected as {me.email} in workspace {tenant} ({me.scope} token)"
