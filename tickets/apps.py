from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        # Subscribes the ticket app's own event handlers (notifications).
        from . import handlers  # noqa: F401
