"""The task behind ``/readyz``: proof that a worker takes a message and runs code."""

from celery import shared_task


@shared_task(name="health.ping", bind=True, ignore_result=False, acks_late=False)
def ping(self) -> str:
    return self.request.hostname or "worker"
