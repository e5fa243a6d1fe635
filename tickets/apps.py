from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        from django.core import checks

        from helpdesk.signals import member_deactivated

        # Subscribes the ticket app's own event handlers (mail; notifications).
        from . import handlers  # noqa: F401
        from .checks import extensions_check, search_index_check
        from .extensions.own import register_tickets_extensions
        from .notifications import register_notification_kinds
        from .services.members import tickets_unassign_member
        from .webhooks import handlers as webhook_handlers  # noqa: F401

        # A deactivated member's open tickets are unassigned (helpdesk cannot import tickets).
        member_deactivated.connect(tickets_unassign_member, dispatch_uid="tickets.unassign_member")
        checks.register(search_index_check, checks.Tags.database)
        checks.register(extensions_check, checks.Tags.templates)
        # Its event kinds, sidebar panel and settings pages, through the
        # extension points higher apps use (tickets.extensions).
        register_tickets_extensions()
        register_notification_kinds()
        # The customer portal: its event kinds, panel and handlers.
        from .portal import handlers as portal_handlers  # noqa: F401
        from .portal.extensions import register_portal_extensions

        register_portal_extensions()
