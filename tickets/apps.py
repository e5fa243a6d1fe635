from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from django.core import checks

        # Subscribes the ticket app's own event handlers (mail; notifications).
        from . import handlers  # noqa: F401
        from .checks import extensions_check, search_index_check
        from .extensions.own import register_tickets_extensions
        from .notifications import register_notification_kinds
        from .webhooks import handlers as webhook_handlers  # noqa: F401

        checks.register(search_index_check, checks.Tags.database)
        checks.register(extensions_check, checks.Tags.templates)
        # Its event kinds, sidebar panel and settings pages, through the
        # extension points higher apps use (tickets.extensions).
        register_tickets_extensions()
        register_notification_kinds()
