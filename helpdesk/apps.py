from django.apps import AppConfig


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    verbose_name = "Help desk"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core import checks
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from . import accounts, db, two_factor
        from . import checks as helpdesk_checks
        from .extensions import register_helpdesk_extensions

        connection_created.connect(db.refuse_unsafe_role)
        # Each sign-in: its session remembered under the user (their sessions
        # list), and a code owed when the user has an authenticator.
        user_logged_in.connect(
            accounts.session_signed_in, dispatch_uid="helpdesk.session_signed_in"
        )
        user_logged_in.connect(
            two_factor.code_owed_at_sign_in, dispatch_uid="helpdesk.two_factor_owed"
        )
        post_migrate.connect(db.apply_tenant_isolation, sender=self)
        post_migrate.connect(db.grant_app_role, sender=self)
        checks.register(helpdesk_checks.tenant_urls_check, checks.Tags.urls)
        register_helpdesk_extensions()
