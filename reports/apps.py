from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        from helpdesk.extensions import NavItem, nav_items

        # Subscribes the handler that keeps report facts current.
        from . import handlers  # noqa: F401

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
