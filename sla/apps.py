from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"

    def ready(self) -> None:
        # Subscribes the recompute handler to ticket events.
        from . import handlers  # noqa: F401
        from .extensions import register_sla_extensions
        from .portal import register_sla_portal_block

        register_sla_extensions()
        register_sla_portal_block()
