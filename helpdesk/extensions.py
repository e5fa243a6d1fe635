"""Extension points of the core app (see `helpdesk.registry`).

settings_sections
    The pages of a tenant's settings, listed on the settings home
    (`tenant_settings`) in `order` (lower first). Each is a
    `SettingsSection`; an app registers its own settings pages from its
    `AppConfig.ready()`. The home shows a member only the sections whose
    `min_role` they have. Receives nothing and loads nothing: the home
    costs no query per section.
"""

from __future__ import annotations

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


def settings_sections_for(membership) -> list[dict]:
    """The sections a member may open, in order: {"section", "url"} each."""
    slug = membership.tenant.slug
    return [
        {"section": section, "url": section.url(slug)}
        for section in settings_sections
        if membership.has_role(section.min_role)
    ]


def register_helpdesk_extensions() -> None:
    """The core app's own settings pages (called once, from `ready()`)."""
    settings_sections.register(
        SettingsSection(
            name="helpdesk.general",
            title="Help desk settings",
            description="Name, ticket prefix, time zone, colour and support address.",
            url_name="tenant_settings",
            order=0,
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
