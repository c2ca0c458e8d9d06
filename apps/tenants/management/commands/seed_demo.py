"""Create the demo account and workspace (idempotent) and print how to sign in.

The demo's detection runs are queued for the worker (``make run`` starts it right after this
command), so the server does not wait for them; ``--now`` runs them in this process instead.
"""

import os

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.runs.demo import seed_demo_data
from apps.tenants.models import Role, Tenant
from apps.tenants.services import membership_add, tenant_create

DEMO_EMAIL = "demo@pynomaly.local"
DEMO_TENANT_SLUG = "demo"


class Command(BaseCommand):
    help = "Seed the demo account, the demo workspace and its demo data (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            action="store_true",
            help="Run the demo's detections in this process instead of queuing them for a worker.",
        )

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD", "pynomaly-demo")
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            created = user is None
            if created:
                user = User.objects.create_user(
                    username="demo", email=DEMO_EMAIL, password=password
                )
                EmailAddress.objects.create(
                    user=user, email=DEMO_EMAIL, verified=True, primary=True
                )
            tenant = Tenant.objects.filter(slug=DEMO_TENANT_SLUG).first()
            if tenant is None:
                tenant = tenant_create(name="Demo", owner=user)
                Tenant.objects.filter(pk=tenant.pk).update(slug=DEMO_TENANT_SLUG)
                tenant.refresh_from_db()
            else:
                membership_add(tenant=tenant, user=user, role=Role.OWNER)
        self.seed_data(tenant, user, run_now=options["now"])
        state = "created" if created else "already there (password unchanged)"
        self.stdout.write(
            self.style.SUCCESS(f"Demo account {state}: sign in as {DEMO_EMAIL} / {password}")
        )
        self.stdout.write(f"Demo workspace: /t/{tenant.slug}/")

    def seed_data(self, tenant, user, *, run_now: bool) -> None:
        """Demo datasets and runs, a database source and a simulated sensor stream."""
        seed_demo_data(tenant=tenant, user=user, stdout=self.stdout, run_now=run_now)
        from apps.sources.demo import seed_demo_source

        seed_demo_source(tenant=tenant, user=user, stdout=self.stdout)
        from apps.streams.demo import seed_demo_stream

        seed_demo_stream(tenant=tenant, user=user, stdout=self.stdout)
