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

nav_items
    Links a higher app adds to the top bar's main navigation, after the
    ticket pages, in `order`: a `NavItem` (label, url_name reversed with
    the tenant's slug, `min_role`, and the url names for which it is the
    current page). Shown to members whose role is at least `min_role`.
    An item whose `home_for` names a role is where `/<tenant>/` sends
    members of that role (the managers' dashboard).

topbar_widgets
    Small controls a higher app adds to the top bar's user menu, before the
    notification bell, in `order`: a `TopbarWidget`. The page draws only a
    placeholder link (`link_url_name`, for a browser without JavaScript);
    the widget's own content comes from `url_name` in a small request of
    its own once the page is shown (as the bell's count does), so a widget
    costs the page no query. Both names are reversed with the tenant's
    slug. Shown to members whose role is at least `min_role`.

request_hooks
    Cheap calls made on every request to a tenant's page, inside its
    tenant context, before the view: a `RequestHook` whose `call(request)`
    returns nothing (dispatch notes an agent's last activity). A hook must
    be cheap (no query on most requests: throttle in the cache) and must
    not raise; it cannot change the response.

demo_seeders
    What `seed_demo` adds after it made the demo tenants, users and
    tickets: a `DemoSeeder` whose `seed(tenant, stdout)` runs inside the
    tenant's context, once per demo tenant, in `order`. It must be safe to
    run again (it finds what an earlier run made). Higher apps (SLA,
    dispatch, the portal) show their part to a newcomer this way without
    `seed_demo` importing them.

notification_kinds
    What a member can be notified of: a `NotificationKind` (its `name`,
    the `label` and `description` shown on each member's notification
    preferences at /<tenant>/settings/notifications/, and whether it comes
    in the app and by mail until the member chooses). The preferences page
    lists every registered kind in `order`; `notification_create` refuses a
    kind that is not registered and honours each member's choice per kind
    and channel. The app that notifies registers its kinds from its
    `AppConfig.ready()` and creates the notifications itself, usually from
    a ticket event handler (tickets.events.subscribe): tickets registers
    "assigned to me", "customer replied", "mentioned in a note" and "urgent
    ticket in my group"; SLA and dispatch add theirs the same way.
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
class NavItem:
    """A link in the top bar's main navigation."""

    name: str
    label: str
    url_name: str
    min_role: str = "agent"
    order: int = 100
    # url names of the pages it is "current" on: plain ("dashboard") or, to
    # tell apart names other apps use too ("home"), namespaced ("dispatch:home").
    current_for: tuple[str, ...] = ()
    # Roles whose home in the help desk this page is.
    home_for: tuple[str, ...] = ()


nav_items: Registry[NavItem] = Registry("nav_items", NavItem)


def nav_items_for(membership) -> list[dict]:
    """The extra top-bar links a member sees, in order: {"item", "url"} each."""
    slug = membership.tenant.slug
    return [
        {"item": item, "url": reverse(item.url_name, args=[slug])}
        for item in nav_items
        if membership.has_role(item.min_role)
    ]


def home_page_for(membership) -> str | None:
    """The url name of the page a higher app made the home of the member's
    role, if any (`NavItem.home_for`)."""
    for item in nav_items:
        if membership.role in item.home_for:
            return item.url_name
    return None


@dataclass(frozen=True)
class TopbarWidget:
    """A control in the top bar, loaded from `url_name` after the page."""

    name: str
    label: str
    url_name: str
    link_url_name: str
    min_role: str = "agent"
    order: int = 100


topbar_widgets: Registry[TopbarWidget] = Registry("topbar_widgets", TopbarWidget)


def topbar_widgets_for(membership) -> list[dict]:
    """The widgets a member sees, in order: {"item", "url", "link"} each."""
    slug = membership.tenant.slug
    return [
        {
            "item": item,
            "url": reverse(item.url_name, args=[slug]),
            "link": reverse(item.link_url_name, args=[slug]),
        }
        for item in topbar_widgets
        if membership.has_role(item.min_role)
    ]


@dataclass(frozen=True)
class RequestHook:
    """`call(request)`, on every request to a tenant's page, before the view."""

    name: str
    call: Callable[..., None]
    order: int = 100


request_hooks: Registry[RequestHook] = Registry("request_hooks", RequestHook)


@dataclass(frozen=True)
class DemoSeeder:
    """`seed(tenant, stdout)` adds an app's demo data to one demo tenant;
    it runs inside that tenant's context and may write lines to `stdout`
    (a newcomer reads them after `make run`)."""

    name: str
    seed: Callable[..., None]
    order: int = 100


demo_seeders: Registry[DemoSeeder] = Registry("demo_seeders", DemoSeeder)


@dataclass(frozen=True)
class NotificationKind:
    """One kind of notification a member chooses to get in the app and by
    mail (`default_in_app`, `default_mail`: until they choose)."""

    name: str
    label: str
    description: str = ""
    default_in_app: bool = True
    default_mail: bool = False
    order: int = 100


notification_kinds: Registry[NotificationKind] = Registry("notification_kinds", NotificationKind)


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
