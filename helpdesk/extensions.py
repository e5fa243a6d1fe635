"""Extension points of the core app (see `helpdesk.registry`).

settings_sections
    The pages of a tenant's settings, listed on the settings home
    (`tenant_settings`) and in the side navigation of every settings page
    (`{% settings_nav %}`, templates/helpdesk/settings/layout.html) in
    `order` (lower first). Each is a
    `SettingsSection`; an app registers its own settings pages from its
    `AppConfig.ready()`. The home shows a member only the sections whose
    `min_role` they have. Receives nothing and loads nothing: the home
    costs no query per section.

demo_seeders
    What `seed_demo` adds after it made the demo tenants, users and
    tickets: a `DemoSeeder` whose `seed(tenant, stdout)` runs inside the
    tenant's context, once per demo tenant, in `order`. It must be safe to
    run again (it finds what an earlier run made). Higher apps (SLA,
    dispatch, the portal) show their part to a newcomer this way without
    `seed_demo` importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from .registry import Registry


@dataclass(frozen=True)
class SettingsSection:
    """One settings page. `url_name` is reversed with the tenant's slug as
    its only argument; `min_role` is a `Membership.Role` value."""

    name: str
    title: str
    description: str
    url_name: str
    min_role: str = "admin"
    order: int = 100

    def url(self, tenant_slug: str) -> str:
        return reverse(self.url_name, args=[tenant_slug])


settings_sections: Registry[SettingsSection] = Registry("settings_sections", SettingsSection)


@dataclass(frozen=True)
class DemoSeeder:
    """`seed(tenant, stdout)` adds an app's demo data to one demo tenant;
    it runs inside that tenant's context and may write lines to `stdout`
    (a newcomer reads them after `make run`)."""

    name: str
    seed: Callable[..., None]
    order: int = 100


demo_seeders: Registry[DemoSeeder] = Registry("demo_seeders", DemoSeeder)


def settings_sections_for(membership) -> list[dict]:
    """The sections a member may open, in order: {"section", "url"} each."""
    slug = membership.tenant.slug
    return [
        {"section": section, "url": section.url(slug)}
        for section in settings_sections
        if membership.has_role(section.min_role)
    ]


def register_helpdesk_extensions() -> None:
    """The core app's own settings pages and demo data (called once, from `ready()`)."""
    from .demo import seed_console

    demo_seeders.register(DemoSeeder(name="helpdesk.console", seed=seed_console, order=10))
    settings_sections.register(
        SettingsSection(
            name="helpdesk.general",
            title="Help desk",
            description="Name, ticket prefix, time zone, colour, logo and support address.",
            url_name="tenant_general",
            order=0,
        )
    )
    for name, title, description, url_name, order in (
        ("helpdesk.people", "People", "Invite agents, change roles, deactivate.", "people", 2),
        ("helpdesk.groups", "Groups", "Teams that tickets are given to.", "groups", 4),
        (
            "helpdesk.audit",
            "Audit log",
            "Every settings change: who, what, before and after.",
            "audit_log",
            95,
        ),
    ):
        settings_sections.register(
            SettingsSection(
                name=name, title=title, description=description, url_name=url_name, order=order
            )
        )
    settings_sections.register(
        SettingsSection(
            name="helpdesk.api_keys",
            title="API keys",
            description="Keys that let other systems use the JSON API.",
            url_name="api_keys",
            order=90,
        )
    )
