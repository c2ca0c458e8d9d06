"""``manage.py audit_verify [--tenant SLUG]``: check the audit trail's hash chains."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.audit.chain import verify
from apps.audit.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chains (every tenant's and the global one) and name the "
        "first broken link of each. Exits with status 1 when a chain is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant's chain")

    def handle(self, *args, tenant=None, **options):
        events = AuditEvent.objects.all()
        if tenant:
            # By slug through the relation: the audit app does not import the tenants app.
            tenant_id = (
                AuditEvent._meta.get_field("tenant")
                .related_model._default_manager.filter(slug=tenant)
                .values_list("pk", flat=True)
                .first()
            )
            if tenant_id is None:
                raise CommandError(f"No tenant with the slug {tenant!r}.")
            events = events.filter(tenant_id=tenant_id)
        result = verify(events)
        for head_tenant, head in sorted(result.heads.items(), key=lambda kv: kv[0] or 0):
            chain = f"tenant {head_tenant}" if head_tenant is not None else "global"
            self.stdout.write(f"head of the {chain} chain: {head}")
        if result.intact:
            self.stdout.write(
                f"Trail verified: {result.events} events in {result.chains} chain(s), "
                "every chain intact."
            )
            return
        for broken in result.breaks:
            self.stderr.write(str(broken))
        # CommandError prints the message and exits with status 1.
        raise CommandError(
            f"Audit trail tampered with: {len(result.breaks)} broken chain(s) "
            f"among {result.events} events."
        )
