"""The processor's reader thread (processor.Prefetch): it owns the consumer (polls one batch
ahead, commits in order, measures the lag), errors where they belong, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from apps.streams.processor import Prefetch


class Source:
    """A consumer whose polls are counted; each hands out the next batch number."""

    def __init__(self, fail_after: int | None = None, fail_commit: bool = False) -> None:
        self.polls = 0
        self.fail_after = fail_after
        self.fail_commit = fail_commit
        self.threads: set[str] = set()
        self.committed: list[list[int]] = []

    def poll(self, max_messages: int, timeout: float) -> list[int]:
        self.threads.add(threading.current_thread().name)
        if self.fail_after is not None and self.polls >= self.fail_after:
            raise ConnectionError("the broker went away")
        self.polls += 1
        return [self.polls] * max_messages

    def commit(self, messages: list[int]) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail_commit:
            raise ConnectionError("the broker refused the commit")
        self.committed.append(messages)

    def lag(self) -> int:
        self.threads.add(threading.current_thread().name)
        return 1000 - self.polls


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


def test_every_call_on_the_consumer_is_made_by_the_reader_and_commits_keep_their_order():
    source = Source()
    reader = Prefetch(source, 2, 0.1, "stream-4", lag_every=0.05)
    try:
        for expected in (1, 2, 3):
            messages, _ = reader.poll(2, 1.0)
            assert messages == [expected] * 2
            reader.commit(messages)  # queued: the caller goes on with the next batch
        deadline = time.monotonic() + 5
        while len(source.committed) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert source.committed == [[1, 1], [2, 2], [3, 3]]
        assert reader.lag() is not None and 990 <= reader.lag() <= 1000  # measured by the thread
    finally:
        reader.close()
    assert source.threads == {"stream-4-reader"}  # poll, commit and lag: never the caller


def test_close_makes_the_commits_still_queued_before_the_thread_ends():
    class Slow(Source):
        def commit(self, messages: list[int]) -> None:
            time.sleep(0.2)
            super().commit(messages)

    source = Slow()
    reader = Prefetch(source, 1, 0.1, "stream-5")
    first, _ = reader.poll(1, 1.0)
    second, _ = reader.poll(1, 1.0)
    reader.commit(first)
    reader.commit(second)
    reader.close()
    assert source.committed == [[1], [2]]
    assert not any(t.name == "stream-5-reader" for t in threading.enumerate())


def test_a_failed_commit_is_raised_by_the_callers_next_poll():
    reader = Prefetch(Source(fail_commit=True), 2, 0.1, "stream-6")
    try:
        messages, _ = reader.poll(2, 1.0)
        reader.commit(messages)
        with pytest.raises(ConnectionError, match="refused the commit"):
            for _ in range(20):  # what was read before the failure is handed out first
                reader.poll(2, 0.2)
    finally:
        reader.close()


def test_an_error_of_the_source_is_raised_in_the_callers_thread_after_what_was_read():
    reader = Prefetch(Source(fail_after=1), 2, 0.1, "stream-2")
    try:
        assert reader.poll(2, 1.0)[0] == [1, 1]
        with pytest.raises(ConnectionError, match="the broker went away"):
            reader.poll(2, 1.0)
    finally:
        reader.close()


def test_an_idle_source_gives_empty_polls_within_the_timeout():
    class Idle(Source):
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
