"""A CI check beside the import-linter contract: the tickets app's
templates and code name no URL of a higher app (dispatch, SLA, knowledge,
reports). A higher app's part of a tickets page comes in through
`tickets.extensions`, with its own templates, never as a link written here."""

import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent
# Literal URL names only: `{% url item.url_name %}` is how registered parts link.
TEMPLATE_URL = re.compile(r"""\{%\s*url\s+(['"])([^'"]+)\1""")
CODE_URL = re.compile(r"""\b(?:reverse|reverse_lazy|redirect|resolve_url)\(\s*(['"])([^'"]+)\1""")
LOWER_APPS = ("tickets", "helpdesk")


def _own_namespaces() -> set[str]:
    """The URL namespaces whose URLconf lives in tickets or helpdesk
    ("tickets", and "api" of tickets.api)."""
    return {
        namespace
        for namespace, (_, resolver) in get_resolver().namespace_dict.items()
        # (the admin's URLconf is a list, not a module: not ours)
        if getattr(resolver.urlconf_module, "__name__", "").split(".")[0] in LOWER_APPS
    }


def _helpdesk_names() -> set[str]:
    """URL names the core app defines without a namespace (tenant_settings, ...),
    its tenant pages' include among them."""

    def names(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLPattern) and pattern.name:
                yield pattern.name
            elif isinstance(pattern, URLResolver) and not pattern.namespace:
                yield from names(pattern.url_patterns)

    return set(names(get_resolver("helpdesk.urls").url_patterns))


def foreign_url_names(text: str, pattern: re.Pattern, own_plain: set[str]) -> list[str]:
    """URL names in `text` that belong to neither tickets nor helpdesk."""
    found = []
    for match in pattern.finditer(text):
        name = match.group(2)
        namespace, _, _ = name.rpartition(":")
        if namespace and namespace not in _own_namespaces():
            found.append(name)
        elif not namespace and name not in own_plain:
            found.append(name)
    return found


def _sources():
    for path in sorted((ROOT / "templates" / "tickets").rglob("*")):
        if path.is_file():
            yield path, TEMPLATE_URL
    for path in sorted((ROOT / "tickets").rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, CODE_URL


def test_tickets_names_no_url_of_a_higher_app():
    own_plain = _helpdesk_names()
    offences = []
    for path, pattern in _sources():
        for name in foreign_url_names(path.read_text(errors="replace"), pattern, own_plain):
            offences.append(f"{path.relative_to(ROOT)}: {name}")
    assert offences == [], "link through tickets.extensions instead:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    "text",
    [
        "{% url 'dispatch:why' tenant.slug ticket.number %}",
        '{%url "sla:policy_list" tenant.slug %}',
        "{% url 'knowledge:article' tenant.slug a.pk as article_url %}",
        "{% url 'reports:dashboard' tenant.slug %}",
        "{% url 'routing_rules' tenant.slug %}",  # a plain name helpdesk does not define
    ],
)
def test_the_check_catches_a_higher_apps_url(text):
    assert foreign_url_names(text, TEMPLATE_URL, _helpdesk_names()) != []


def test_the_check_lets_the_tickets_and_core_urls_through():
    text = "{% url 'tickets:detail' tenant.slug 1 %} {% url 'tenant_settings' tenant.slug %}"
    assert foreign_url_names(text, TEMPLATE_URL, _helpdesk_names()) == []
    code = 'reverse("tickets:detail", args=[1]); redirect("sla:x"); redirect(url)'
    assert foreign_url_names(code, CODE_URL, _helpdesk_names()) == ["sla:x"]
