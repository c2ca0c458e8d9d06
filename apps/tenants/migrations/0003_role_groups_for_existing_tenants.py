"""Give every existing tenant its four role groups with their object permissions, and put
each member in the group of their role.

The role table is copied here on purpose: a migration must keep doing what it did when it was
written, whatever apps/tenants/permissions.py says later (a later table change gets its own
migration, or ``tenant_sync_role_groups``).
"""

from django.db import migrations

ROLE_CODENAMES = {
    "viewer": ["view_tenant"],
    "analyst": ["view_tenant", "create_content"],
    "admin": ["view_tenant", "create_content", "manage_tenant"],
    "owner": ["view_tenant", "create_content", "manage_tenant", "own_tenant"],
}
NAMES = {
    "view_tenant": "Can view tenant",
    "create_content": "Create and run datasets, detectors and runs",
    "manage_tenant": "Manage members, invitations, settings and the audit trail",
    "own_tenant": "Delete the workspace and transfer ownership",
}


def forwards(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Membership = apps.get_model("tenants", "Membership")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    GroupObjectPermission = apps.get_model("guardian", "GroupObjectPermission")

    if not Tenant.objects.exists():
        return  # fresh database: permissions appear after migrate, groups with each new tenant
    # Permissions are normally created after migrate (post_migrate); the groups need them now.
    ct, _ = ContentType.objects.get_or_create(app_label="tenants", model="tenant")
    perms = {
        c: Permission.objects.get_or_create(content_type=ct, codename=c, defaults={"name": n})[0]
        for c, n in NAMES.items()
    }
    for tenant in Tenant.objects.all():
        for role, codenames in ROLE_CODENAMES.items():
            group, _ = Group.objects.get_or_create(name=f"tenant:{tenant.pk}:{role}")
            for c in codenames:
                GroupObjectPermission.objects.get_or_create(
                    group=group, permission=perms[c], content_type=ct, object_pk=str(tenant.pk)
                )
            for m in Membership.objects.filter(tenant=tenant, role=role).select_related("user"):
                m.user.groups.add(group)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__startswith="tenant:").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_roles_as_guardian_permissions_and_invitations"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
