from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from helpdesk.extensions import (
            DemoSeeder,
            NavItem,
            NotificationKind,
            demo_seeders,
            nav_items,
            notification_kinds,
        )

        # Subscribes the handler that keeps report facts current.
        from . import handlers  # noqa: F401
        from .pages import handlers as page_handlers  # noqa: F401  (and the pages' models)
        from .weekly import WEEKLY_SUMMARY

        nav_items.register(
            NavItem(
                name="reports.dashboard",
                label="Reports",
                url_name="reports:dashboard",
                min_role="manager",
                order=50,
                current_for=("dashboard", "tickets"),
                home_for=("manager",),
            )
        )

        notification_kinds.register(
            NotificationKind(
                name=WEEKLY_SUMMARY,
                label="Weekly support summary",
                description=(
                    "For managers and admins: last week's figures by mail on Monday morning."
                ),
                default_in_app=False,
                default_mail=False,
                order=90,
            )
        )
        demo_seeders.register(DemoSeeder(name="reports.facts", seed=_seed_facts, order=900))


def _seed_facts(tenant, stdout) -> None:
    """The demo's figures at once, without waiting for the worker to fold
    the seeded tickets' events (it would arrive at the same rows)."""
    from .services import facts_rebuild

    count = facts_rebuild()
    stdout.write(f"{tenant.name}: report figures built from {count} tickets")
