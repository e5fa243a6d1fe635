from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"

    def ready(self) -> None:
        # Subscribes dispatch's ticket event handlers (routing, freed room).
        from . import handlers  # noqa: F401
        from .extensions import register_dispatch_extensions

        register_dispatch_extensions()
