"""The processor's reader thread (processor.Prefetch): one batch ahead, errors where they
belong, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from apps.streams.processor import Prefetch


class Source:
    """A consumer whose polls are counted; each hands out the next batch number."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.polls = 0
        self.fail_after = fail_after
        self.threads: set[str] = set()

    def poll(self, max_messages: int, timeout: float) -> list[int]:
        self.threads.add(threading.current_thread().name)
        if self.fail_after is not None and self.polls >= self.fail_after:
            raise ConnectionError("the broker went away")
        self.polls += 1
        return [self.polls] * max_messages


def test_it_reads_and_decodes_at_most_one_batch_ahead_of_the_caller():
    source = Source()
    decoded_in: set[str] = set()

    def decode(messages: list[int]) -> int:
        decoded_in.add(threading.current_thread().name)
        return sum(messages)

    reader = Prefetch(source, 3, 0.1, "stream-1", decode)
    try:
        assert reader.poll(3, 1.0) == ([1, 1, 1], 3)
        time.sleep(0.5)  # the caller is busy storing: the reader fills its one slot and waits
        # one batch waiting and one read that waits to be put: never more
        assert source.polls == 3
        assert reader.poll(3, 1.0) == ([2, 2, 2], 6)
        assert reader.poll(3, 1.0) == ([3, 3, 3], 9)
        assert source.threads == decoded_in == {"stream-1-reader"}
    finally:
        reader.close()
    assert not any(t.name == "stream-1-reader" for t in threading.enumerate())


def test_an_error_of_the_source_is_raised_in_the_callers_thread_after_what_was_read():
    reader = Prefetch(Source(fail_after=1), 2, 0.1, "stream-2")
    try:
        assert reader.poll(2, 1.0)[0] == [1, 1]
        with pytest.raises(ConnectionError, match="the broker went away"):
            reader.poll(2, 1.0)
    finally:
        reader.close()


def test_an_idle_source_gives_empty_polls_within_the_timeout():
    class Idle:
        def poll(self, max_messages: int, timeout: float) -> list[int]:
            time.sleep(timeout)
            return []

    reader = Prefetch(Idle(), 5, 0.05, "stream-3")
    try:
        started = time.monotonic()
        assert reader.poll(5, 0.2) == ([], None)
        assert time.monotonic() - started < 1.0
    finally:
        reader.close()
