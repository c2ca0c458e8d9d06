"""Celery tasks for streams: the demo stream's simulated sensors (the processor is its own process)."""

from __future__ import annotations

from celery import shared_task

from . import demo


@shared_task(name="streams.simulate_demo", ignore_result=True, time_limit=30, soft_time_limit=20)
def simulate_demo() -> int:
    return demo.simulate()
