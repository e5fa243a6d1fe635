from django import template
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def age(value) -> str:
    """How long ago, in its largest unit only: "3 days", not "3 days, 4 hours"."""
    if not value:
        return ""
    return timesince(value, depth=1)


@register.inclusion_tag("helpdesk/settings/_nav.html", takes_context=True)
def settings_nav(context, home=False):
    """The settings pages' side navigation: the home, then every section the
    member may open (helpdesk.extensions.settings_sections, the one list)."""
    from django.urls import reverse

    from helpdesk.extensions import settings_sections_for

    request = context["request"]
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"items": [], "home": home}
    home_url = reverse("tenant_settings", args=[membership.tenant.slug])
    items = [{"title": "Overview", "url": home_url, "current": request.path == home_url}]
    for entry in settings_sections_for(membership):
        url = entry["url"]
        items.append(
            {"title": entry["section"].title, "url": url, "current": request.path.startswith(url)}
        )
    # On the home the sections are listed in its body already: a phone hides the nav there.
    return {"items": items, "home": home}
