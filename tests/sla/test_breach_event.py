"""The timeline's breach entry: the due time in the viewer's zone, and the
breach named once."""

from types import SimpleNamespace

from django.template.loader import render_to_string
from django.utils import timezone


def test_breach_entry_shows_the_due_time_in_the_viewers_zone_and_says_it_once():
    event = SimpleNamespace(
        pk=7,
        is_new=False,
        actor_user=None,
        actor_contact=None,
        actor_system="sla",
        actor_api_key=None,
        reason="First response target breached",
        created_at=timezone.now(),
        new_value={
            "target": "first_response",
            "label": "First response",
            "due_at": "2026-12-01T21:50:00+00:00",
            "cycle": 1,
        },
    )
    with timezone.override("Europe/Berlin"):
        html = render_to_string("sla/events/breached.html", {"event": event})

    assert "(was due" in html and "1 Dec, 22:50</time>)" in html
    assert 'datetime="2026-12-01T22:50:00+01:00"' in html
    assert "2026-12-0121:50" not in html
    assert html.count("First response target breached") == 1
