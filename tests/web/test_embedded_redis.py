"""The embedded Redis keeps its data on disk and is started again on its port when it dies."""

import os
import signal
import time

import redis

from pynomaly_web.embedded_redis import EmbeddedRedis


def test_a_killed_embedded_redis_comes_back_on_its_port_with_its_queued_messages(tmp_path):
    server = EmbeddedRedis(workdir=tmp_path / "redis").start()
    server.keep_alive()
    try:
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        client.lpush("pynomaly-queue", "message-1", "message-2")
        time.sleep(1.5)  # appendfsync everysec
        killed = server.proc.pid
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while server.restarts < 1 or server.proc.pid == killed:
            assert time.monotonic() < deadline, "the embedded Redis was not started again"
            time.sleep(0.1)
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        assert client.lrange("pynomaly-queue", 0, -1) == [b"message-2", b"message-1"]
        assert (tmp_path / "redis" / "appendonly.aof").stat().st_size > 0
    finally:
        server.stop()
    assert server.proc.poll() is not None
