from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from django.core import checks

        # Subscribes the ticket app's own event handlers (notifications).
        from . import handlers  # noqa: F401
        from .checks import search_index_check

        checks.register(search_index_check, checks.Tags.database)
