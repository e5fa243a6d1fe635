"""The portal's mail: through the outbox once per event and recipient, one
live link per recipient across mails, and the bad rating's notification."""

from unittest import mock

import pytest
from django.core import mail as django_mail
from django.core.mail.backends import locmem
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Notification, NotificationPreference
from helpdesk.tenancy import tenant_context
from tests.tickets.test_portal import links_in, mail_to, pat_link
from tickets import services, tasks
from tickets.models import Event, Message, OutboundEmail, PortalLink, Ticket
from tickets.portal import handlers, tokens

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _memory_mail(settings, eager):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    django_mail.outbox = []


def _reply(ticket, agent, body="More news."):
    with tenant_context(ticket.tenant):
        services.message_add(ticket=ticket, kind=Message.Kind.REPLY, body=body, author_user=agent)


# ---------------------------------------------------------------- the outbox


def test_the_solved_mail_is_recorded_once_per_recipient_and_outlives_a_mail_server_outage(
    tenant, settings, emailed_ticket
):
    settings.MAIL_SWEEP_GRACE_SECONDS = 0
    path = pat_link()
    before = len(django_mail.outbox)
    down = ConnectionRefusedError("connection refused by smtp.example:587")
    with (
        mock.patch.object(locmem.EmailBackend, "send_messages", side_effect=down),
        mock.patch.object(tasks.send_outbound_email, "apply_async"),
    ):
        assert Client().post(f"{path}solve/").status_code == 302
    assert len(django_mail.outbox) == before  # nothing went, nothing is lost
    with tenant_context(tenant):
        solved = OutboundEmail.objects.filter(kind=OutboundEmail.Kind.SOLVED)
        assert sorted(solved.values_list("recipient", "status")) == [
            ("boss@example.com", "pending"),
            ("pat@example.com", "pending"),
        ]
        assert "connection refused" in solved.first().last_error
        # The handler run again (a retry, or an admin's "run again"): nothing new.
        event = Event.objects.filter(kind=Event.Kind.STATUS_CHANGED).latest("pk")
        handlers.solved_mail(event)
        assert solved.count() == 2
    # The server is back: the sweep sends each once.
    assert tasks.sweep_unsent_mail() == 1
    tasks.sweep_unsent_mail()
    pat_copies = [m for m in mail_to("pat@example.com") if "Solved" in m.subject]
    boss_copies = [m for m in mail_to("boss@example.com") if "Solved" in m.subject]
    assert len(pat_copies) == len(boss_copies) == 1
    assert "rate/?score=0" in pat_copies[0].body
    with tenant_context(tenant):
        assert set(solved.values_list("status", flat=True)) == {"sent"}


def test_the_new_links_mail_goes_through_the_outbox(tenant, agent, login, emailed_ticket):
    login(agent).post(
        reverse("tickets:portal_links_reset", args=[tenant.slug, emailed_ticket.number])
    )
    with tenant_context(tenant):
        rows = OutboundEmail.objects.filter(kind=OutboundEmail.Kind.LINKS)
        assert sorted(rows.values_list("recipient", "status")) == [
            ("boss@example.com", "sent"),
            ("pat@example.com", "sent"),
        ]
        handlers.links_mail(Event.objects.get(kind="portal_links_reset"))
        assert rows.count() == 2
    assert len([m for m in mail_to("pat@example.com") if "Your link" in m.subject]) == 1


# ---------------------------------------------------------------- one live link


def test_a_recipient_keeps_one_link_across_mails_and_ccs_have_their_own(
    client, tenant, agent, emailed_ticket
):
    ack, reply = mail_to("pat@example.com")
    assert links_in(ack) == links_in(reply)
    _reply(emailed_ticket, agent)
    assert links_in(mail_to("pat@example.com")[-1]) == links_in(ack)
    boss = [links_in(m)[0] for m in mail_to("boss@example.com")]
    assert len(boss) == 2 and boss[0] == boss[1] != links_in(ack)[0]
    assert client.get(boss[0]).status_code == 200
    with tenant_context(tenant):
        assert PortalLink.objects.count() == 2  # one row per recipient, not per mail


def test_after_a_reset_the_old_link_is_gone_and_new_mail_carries_the_new_one(
    tenant, agent, login, emailed_ticket
):
    customer = Client()
    old, old_boss = pat_link(), links_in(mail_to("boss@example.com")[-1])[0]
    login(agent).post(
        reverse("tickets:portal_links_reset", args=[tenant.slug, emailed_ticket.number])
    )
    new = pat_link()
    assert new != old
    assert customer.get(old).status_code == customer.get(old_boss).status_code == 404
    _reply(emailed_ticket, agent)
    assert pat_link() == new and customer.get(new).status_code == 200
    assert links_in(mail_to("boss@example.com")[-1])[0] not in (old_boss, new)


def test_links_survive_a_key_rotation(client, tenant, agent, settings, emailed_ticket):
    old_key = settings.SECRET_KEY
    link = pat_link()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "x" * 40, [old_key]
    _reply(emailed_ticket, agent)
    assert pat_link() == link and client.get(link).status_code == 200
    # The old key dropped: the link still opens (its hash is stored), and new
    # mail carries a new link made with the new key, which opens too.
    settings.SECRET_KEY_FALLBACKS = []
    _reply(emailed_ticket, agent, body="Later news.")
    newer = pat_link()
    assert newer != link
    assert client.get(link).status_code == client.get(newer).status_code == 200
    _reply(emailed_ticket, agent, body="Even later.")
    assert pat_link() == newer


def test_a_link_issued_before_links_were_derived_keeps_working(client, tenant, emailed_ticket):
    token, selector, digest = tokens.token_new()
    with tenant_context(tenant):
        PortalLink.objects.create(
            tenant=tenant, ticket=emailed_ticket, email="pat@example.com", selector=selector,
            verifier_sha256=digest, created_at=timezone.now(),
        )  # fmt: skip
    path = f"/portal/{tenant.slug}/t/{emailed_ticket.number}/{token}/"
    assert client.get(path).status_code == 200
    assert path != pat_link()


# ---------------------------------------------------------------- bad rating


def _rate_bad(ticket):
    path = pat_link()
    customer = Client()
    customer.post(f"{path}solve/")
    customer.post(f"{path}rate/", {"score": "0", "comment": "Slow"})


def test_a_bad_rating_is_a_notification_kind_each_member_chooses(
    client, tenant, agent, login, emailed_ticket
):
    agent.email = "ana@acme.example"
    agent.save(update_fields=["email"])
    page = login(agent).get(reverse("notification_preferences", args=[tenant.slug]))
    assert "A customer gave my ticket a bad rating" in page.content.decode()
    _rate_bad(emailed_ticket)
    with tenant_context(tenant):
        notice = Notification.objects.get(user=agent, text__startswith="Bad rating")
        # In the app and, as chosen by default, in the next mail digest.
        assert (notice.kind, notice.in_app, notice.mail_pending) == (
            "portal.bad_rating",
            True,
            True,
        )


def test_a_member_who_chose_none_hears_nothing_of_a_bad_rating(tenant, agent, emailed_ticket):
    with tenant_context(tenant):
        NotificationPreference.objects.create(
            tenant=tenant, user=agent, kind="portal.bad_rating", in_app=False, mail=False
        )
    _rate_bad(emailed_ticket)
    with tenant_context(tenant):
        assert Ticket.objects.get(pk=emailed_ticket.pk).status == Ticket.Status.RESOLVED
        assert Event.objects.filter(kind="rated").exists()
        assert not Notification.objects.filter(user=agent, text__startswith="Bad rating").exists()


def test_one_recipients_link_is_revoked_alone(tenant, agent, login, emailed_ticket):
    customer = Client()
    pat, boss = pat_link(), links_in(mail_to("boss@example.com")[-1])[0]
    boss_mails = len(mail_to("boss@example.com"))
    agent_client = login(agent)
    url = reverse("tickets:portal_links_reset", args=[tenant.slug, emailed_ticket.number])
    page = agent_client.get(reverse("tickets:detail", args=[tenant.slug, emailed_ticket.number]))
    assert "Revoke the link of boss@example.com" in page.content.decode()
    response = agent_client.post(url, {"email": "Boss@Example.com"}, follow=True)
    assert "boss@example.com gets a new one by mail" in response.content.decode()
    assert customer.get(boss).status_code == 404
    assert customer.get(pat).status_code == 200  # the requester keeps theirs
    assert len(mail_to("boss@example.com")) == boss_mails + 1
    new_boss = links_in(mail_to("boss@example.com")[-1])[0]
    assert new_boss != boss and customer.get(new_boss).status_code == 200
    assert pat_link() == pat  # no mail to pat
    # Someone the ticket does not mail: refused, nothing revoked.
    response = agent_client.post(url, {"email": "eve@example.com"}, follow=True)
    assert "eve@example.com gets no mail about this ticket" in response.content.decode()
    assert customer.get(new_boss).status_code == 200
