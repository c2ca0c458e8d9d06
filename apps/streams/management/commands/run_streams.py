"""``manage.py run_streams``: the stream processor (the Procfile's ``streams`` process)."""

import logging
import signal

from django.core.management.base import BaseCommand

from apps.streams.processor import REFRESH_SECONDS, Processor


class Command(BaseCommand):
    help = (
        "Read, score and store every active stream, one thread per stream; several "
        "processes share the streams through the brokers' consumer groups."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--refresh",
            type=float,
            default=REFRESH_SECONDS,
            help="seconds between two reads of the set of active streams",
        )
        parser.add_argument(
            "--stream", type=int, action="append", help="serve only this stream id (repeatable)"
        )
        parser.add_argument("--name", help="consumer name in the groups (default: host:pid)")

    def handle(self, *args, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        processor = Processor(
            name=options["name"], refresh=options["refresh"], streams=options["stream"]
        )
        # SIGTERM (supervisord, Ctrl-C): finish the batch in hand, store it, commit, stop.
        signal.signal(signal.SIGTERM, lambda *_: processor.stop())
        signal.signal(signal.SIGINT, lambda *_: processor.stop())
        self.stdout.write(f"stream processor {processor.name}: serving the active streams")
        processor.run()
