"""Drawing what apps registered in `tickets.extensions`: the ticket page's
panels, queue cells and badges, timeline entries and portal blocks."""

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from .. import extensions
from ..services.tickets import FIELD_LABELS

register = template.Library()


def _render(context, template_name: str, **values) -> SafeString:
    """`template_name` drawn as `{% include %}` draws: with the page's
    context (tenant, request, csrf_token) and `values` over it, for this
    part only."""
    part = context.template.engine.get_template(template_name)
    with context.push(**values):
        return part.render(context)


def _loaded_parts(context, registry, name: str, *args) -> SafeString:
    parts = []
    for item in registry:
        values = item.loader(*args)
        if values is None:  # nothing to show for this ticket
            continue
        parts.append(_render(context, item.template, **{name: item}, **values))
    return mark_safe("".join(parts))  # noqa: S308 - each part is a rendered template


@register.simple_tag(takes_context=True, name="ticket_panels")
def ticket_panels_tag(context, ticket) -> SafeString:
    """`{% ticket_panels ticket %}`: the ticket page's registered panels, in
    order, each loaded once (`loader(ticket, request)`)."""
    return _loaded_parts(context, extensions.ticket_panels, "panel", ticket, context.get("request"))


@register.simple_tag(takes_context=True, name="queue_figures")
def queue_figures_tag(context, queue) -> SafeString:
    """`{% queue_figures queue %}`: the figures registered for a queue's head
    (`loader(queue, request)`)."""
    return _loaded_parts(context, extensions.queue_figures, "figure", queue, context.get("request"))


@register.simple_tag(takes_context=True, name="portal_blocks")
def portal_blocks_tag(context, ticket, contact) -> SafeString:
    """`{% portal_blocks ticket contact %}`: the portal's registered blocks
    for a ticket as `contact` sees it (`loader(ticket, contact)`)."""
    return _loaded_parts(context, extensions.portal_blocks, "block", ticket, contact)


@register.simple_tag(takes_context=True)
def timeline_entry(context, event) -> SafeString:
    """One timeline entry, drawn by its kind's template (a plain one for a
    kind nobody registers any more)."""
    kind = extensions.event_kinds.get(event.kind)
    name = kind.template if kind else extensions.UNKNOWN_EVENT_TEMPLATE
    return _render(context, name, event=event, event_kind=kind)


def _drawn(context, item, ticket, value) -> SafeString:
    if item.formatter is not None:
        return conditional_escape(item.formatter(value))
    return _render(context, item.template, item=item, ticket=ticket, value=value)


@register.simple_tag(takes_context=True)
def queue_cell(context, column, ticket, value) -> SafeString:
    """A registered column's cell content for one ticket (value from the
    page's one loader call)."""
    return _drawn(context, column, ticket, value)


@register.simple_tag(takes_context=True)
def queue_badge(context, badge, ticket, value) -> SafeString:
    """A registered badge of one ticket, on a queue row or a board card."""
    drawn = _drawn(context, badge, ticket, value)
    if badge.formatter is None:
        return drawn  # a template draws the whole badge
    return format_html('<span class="tag ext-badge" title="{}">{}</span>', badge.label, drawn)


@register.filter
def system_actor(name: str) -> str:
    """A system's name as people read it ("dispatch" -> "Routing")."""
    return extensions.system_actor_label(name)


@register.filter
def field_label(field: str) -> str:
    """A ticket field as the timeline names it ("changed priority")."""
    return FIELD_LABELS.get(field, field).lower()
