"""Staff roles are Django groups; each app's migrations grant its own permissions to them."""

from __future__ import annotations

ADMINISTRATOR = "Administrator"
CONTRACT_MANAGER = "Contract manager"
SUPPORT = "Support"
FINANCE = "Finance"
VIEWER = "Viewer"
ROLES = (ADMINISTRATOR, CONTRACT_MANAGER, SUPPORT, FINANCE, VIEWER)


def ensure_permissions(apps) -> None:
    """Create the permission rows now; Django only creates them after all migrations ran."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def grant(apps, mapping: dict[str, list[str]]) -> None:
    """Add permissions ("app_label.codename") to roles, for use in a data migration."""
    ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in mapping.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def is_administrator(user) -> bool:
    """A superuser, or a member of the Administrator role: for what reaches every
    organisation, which no permission granted to another role should open."""
    if user is None or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATOR).exists()
