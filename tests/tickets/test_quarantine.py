"""The quarantine as an admin uses it: who sent what and why it was refused,
the raw mail read safely or downloaded, "Process again" and "File anyway",
each action recorded in the audit log."""

from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from helpdesk.models import AuditEntry
from helpdesk.tenancy import tenant_context
from tests.tickets.test_intake import mail
from tickets import intake, selectors
from tickets import mail as outgoing
from tickets.models import InboundEmail, Ticket
from tickets.services import quarantine as quarantine_actions

NO_SENDER = "The message has no usable sender address (From, Reply-To or Sender)."

# Each part tries to leave the text it is shown in: a script, an element
# with a handler, and the end of a textarea or a <pre> it might be put in.
HOSTILE = '<script>alert("subject")</script></textarea></pre><img src=x onerror=alert(1)>'


def _quarantine(tenant, mailbox, raw):
    """Store and process one mail; it must end in quarantine."""
    with tenant_context(tenant):
        inbound, _ = intake.inbound_store(mailbox=mailbox, raw=raw)
        inbound = intake.inbound_process(inbound=inbound)
        assert inbound.status == InboundEmail.Status.QUARANTINED
        return inbound


def _oversized(tenant, mailbox, settings, **headers):
    settings.INBOUND_EMAIL_MAX_BYTES = 300
    return _quarantine(tenant, mailbox, mail(body="y" * 400, **headers))


def _url(name, tenant, inbound):
    return reverse(f"tickets:{name}", args=[tenant.slug, inbound.pk])


def _forget_headline(tenant, *inbounds):
    """Make rows look stored before sender, subject and recipients were kept."""
    with tenant_context(tenant):
        InboundEmail.objects.filter(pk__in=[i.pk for i in inbounds]).update(
            sender="", subject="", recipients=""
        )


# ---------------------------------------------------------------- the list


def test_the_list_says_who_sent_what_where_and_why(tenant, mailbox, admin_user, login, settings):
    inbound = _oversized(
        tenant, mailbox, settings, sender="Renée Müller <renee@example.com>", subject="Invoice 7"
    )
    page = login(admin_user).get(reverse("tickets:quarantine", args=[tenant.slug]))
    text = page.content.decode()
    assert "Renée Müller &lt;renee@example.com&gt;" in text
    assert "Invoice 7" in text
    assert "help@acme.example" in text  # recipients and mailbox
    assert "Larger than the limit for incoming mail" in text
    assert _url("quarantine_detail", tenant, inbound) in text


def test_mail_stored_before_headers_were_kept_is_listed_from_its_raw_bytes(
    tenant, mailbox, admin_user, login, settings
):
    inbound = _oversized(
        tenant, mailbox, settings, sender="Old Timer <old@example.com>", subject="Legacy"
    )
    _forget_headline(tenant, inbound)
    client = login(admin_user)
    listed = client.get(reverse("tickets:quarantine", args=[tenant.slug])).content.decode()
    assert "Old Timer &lt;old@example.com&gt;" in listed and "Legacy" in listed
    detail = client.get(_url("quarantine_detail", tenant, inbound)).content.decode()
    assert "Old Timer &lt;old@example.com&gt;" in detail


def test_the_list_shows_the_latest_action_on_each_mail(
    tenant, mailbox, admin_user, login, settings
):
    inbound = _oversized(tenant, mailbox, settings)
    admin_user.first_name, admin_user.last_name = "Ada", "Admin"
    admin_user.save()
    client = login(admin_user)
    client.post(_url("quarantine_reprocess", tenant, inbound))  # still too large
    client.get(_url("quarantine_download", tenant, inbound))
    page = client.get(reverse("tickets:quarantine", args=[tenant.slug])).content.decode()
    assert "Ada Admin: Downloaded the raw mail" in page
    assert "Processed again" not in page  # only the latest one per mail


def test_list_queries_do_not_grow_with_the_rows(
    tenant,
    mailbox,
    admin_user,
    login,
    django_assert_num_queries,
    django_assert_max_num_queries,
):
    client = login(admin_user)
    url = reverse("tickets:quarantine", args=[tenant.slug])

    def add_rows(count, start):
        rows = [
            _quarantine(tenant, mailbox, mail(sender="", subject=f"Mail {start + n}"))
            for n in range(count)
        ]
        # Old rows (read from raw) and acted-on rows (an audit entry) among them.
        _forget_headline(tenant, rows[0])
        with tenant_context(tenant):
            quarantine_actions.quarantine_reprocess(inbound=rows[-1], actor=admin_user)

    add_rows(1, 0)
    client.get(url)  # session and caches warm
    with django_assert_max_num_queries(50) as one:
        client.get(url)
    one_row = len(one.captured_queries)
    add_rows(29, 1)
    with django_assert_num_queries(one_row):
        response = client.get(url)
    assert response.content.decode().count("Process again") == 30


def test_the_list_pages_by_keyset_and_ties_are_not_lost(tenant, mailbox):
    rows = [_quarantine(tenant, mailbox, mail(sender="", subject=f"Mail {n}")) for n in range(5)]
    with tenant_context(tenant):
        # Mail received in the same instant, as a burst can be.
        InboundEmail.objects.filter(pk__in=[r.pk for r in rows[1:4]]).update(
            received_at=rows[2].received_at
        )
        seen, cursor = [], None
        while True:
            page, cursor = selectors.quarantine_page(before=cursor, limit=2)
            seen += [row.pk for row in page]
            if cursor is None:
                break
    assert sorted(seen) == sorted(r.pk for r in rows) and len(seen) == 5


# ---------------------------------------------------------------- one mail


def test_hostile_mail_shows_as_text_on_the_list_and_its_page(tenant, mailbox, admin_user, login):
    raw = (
        f"From: {HOSTILE} <{HOSTILE}@example.com>\r\nTo: {HOSTILE}\r\n"
        f"Subject: {HOSTILE}\r\nContent-Type: text/html\r\n\r\n<html><body>{HOSTILE}"
        "<iframe src=javascript:alert(2)></iframe></body></html>\r\n"
    ).encode()
    inbound = _quarantine(tenant, mailbox, raw)  # no usable sender: refused
    client = login(admin_user)
    for url in (
        reverse("tickets:quarantine", args=[tenant.slug]),
        _url("quarantine_detail", tenant, inbound),
    ):
        page = client.get(url).content.decode()
        for markup in ("<script>alert", "</textarea>", "<img src=x", "<iframe", "</pre><"):
            assert markup not in page, (url, markup)
        assert "&lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the raw body, as text
    assert "&lt;iframe src=javascript:alert(2)&gt;" in page


def test_raw_mail_in_another_charset_reads_as_text(tenant, mailbox, admin_user, login):
    raw = (
        b"From: Jos\xe9 <jose@example.com>\r\nSubject: Caf\xe9\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nL'\xe9t\xe9 \xe0 Nice \x00\x07.\r\n"
    )
    with tenant_context(tenant):
        inbound, _ = intake.inbound_store(mailbox=mailbox, raw=raw)
        InboundEmail.objects.filter(pk=inbound.pk).update(status="quarantined", reason="test")
    page = login(admin_user).get(_url("quarantine_detail", tenant, inbound)).content.decode()
    assert "L&#x27;été à Nice ." in page  # decoded, control characters dropped


def test_a_large_mail_shows_its_start_and_downloads_whole(
    tenant, mailbox, admin_user, login, settings
):
    settings.INBOUND_EMAIL_MAX_BYTES = 100_000
    body = "line of a long log file\r\n" * 20_000 + "THE VERY END"
    inbound = _quarantine(tenant, mailbox, mail(body=body))
    client = login(admin_user)
    page = client.get(_url("quarantine_detail", tenant, inbound)).content.decode()
    assert "Larger than the limit" in page
    assert "Showing the first 256.0\xa0KB of" in page and "the download holds all of it" in page
    assert "THE VERY END" not in page

    download = client.get(_url("quarantine_download", tenant, inbound))
    with tenant_context(tenant):
        assert download.content == bytes(InboundEmail.objects.get(pk=inbound.pk).raw)
    assert download.content.endswith(b"THE VERY END\r\n")


def test_the_download_is_a_file_never_a_page(tenant, mailbox, admin_user, login):
    inbound = _quarantine(tenant, mailbox, mail(sender="", subject='"; filename="evil.html'))
    response = login(admin_user).get(_url("quarantine_download", tenant, inbound))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="acme-mail-{inbound.pk}.eml"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    with tenant_context(tenant):
        entry = AuditEntry.objects.get(target_type="inbound_email", target_id=str(inbound.pk))
    assert (entry.action, entry.actor) == ("inbound.download", admin_user)


def test_mail_that_never_was_in_quarantine_has_no_page_here(tenant, mailbox, admin_user, login):
    with tenant_context(tenant):
        inbound, _ = intake.inbound_store(mailbox=mailbox, raw=mail())
        assert intake.inbound_process(inbound=inbound).status == "processed"
    client = login(admin_user)
    assert client.get(_url("quarantine_detail", tenant, inbound)).status_code == 404
    assert client.get(_url("quarantine_download", tenant, inbound)).status_code == 404


def test_another_tenants_mail_is_404_under_our_slug(
    tenant, other_tenant, mailbox, admin_user, login
):
    from tickets import services

    with tenant_context(other_tenant):
        theirs, _ = services.mailbox_create(name="Globex", address="help@globex.example")
    inbound = _quarantine(other_tenant, theirs, mail(sender=""))
    client = login(admin_user)
    for name in ("quarantine_detail", "quarantine_download"):
        assert client.get(_url(name, tenant, inbound)).status_code == 404
    for name in ("quarantine_reprocess", "quarantine_file_anyway"):
        assert client.post(_url(name, tenant, inbound)).status_code == 404


# ---------------------------------------------------------------- actions


def test_process_again_after_a_fix_files_it_and_links_the_ticket(
    tenant, mailbox, admin_user, login, settings
):
    inbound = _oversized(tenant, mailbox, settings)
    settings.INBOUND_EMAIL_MAX_BYTES = 10_000  # the fix
    response = login(admin_user).post(_url("quarantine_reprocess", tenant, inbound), follow=True)
    text = response.content.decode()
    ticket_url = reverse("tickets:detail", args=[tenant.slug, 1])
    assert f'Filed as <a href="{ticket_url}">ACME-1</a>.' in text
    assert "Processed again: filed as ACME-1" in text  # the history on the mail's page
    with tenant_context(tenant):
        inbound.refresh_from_db()
        assert (inbound.status, inbound.attempts) == ("processed", 2)
        created = Ticket.objects.get().events.get(kind="created")
        assert created.new_value["acknowledge"] is True  # the usual rules


def test_process_again_without_a_fix_says_why_and_is_recorded(
    tenant, mailbox, admin_user, login, settings
):
    inbound = _oversized(tenant, mailbox, settings)
    response = login(admin_user).post(
        _url("quarantine_reprocess", tenant, inbound), {"return_to": "list"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("tickets:quarantine", args=[tenant.slug])
    assert "Still quarantined: Larger than the limit" in response.content.decode()
    with tenant_context(tenant):
        entry = AuditEntry.objects.get(target_type="inbound_email", target_id=str(inbound.pk))
    assert entry.action == "inbound.reprocess" and entry.detail["status"] == "quarantined"


def test_file_anyway_sets_the_size_limit_aside_and_sends_no_acknowledgement(
    tenant, mailbox, admin_user, login, settings
):
    inbound = _oversized(tenant, mailbox, settings, subject="Scanned contract")
    client = login(admin_user)
    page = client.get(_url("quarantine_detail", tenant, inbound)).content.decode()
    assert "File anyway, without those checks" in page
    response = client.post(_url("quarantine_file_anyway", tenant, inbound), follow=True)
    assert "Filed as <a" in response.content.decode()
    with tenant_context(tenant):
        ticket = Ticket.objects.get()
        assert ticket.subject == "Scanned contract"
        assert ticket.events.get(kind="created").new_value["acknowledge"] is False
        entry = AuditEntry.objects.get(target_type="inbound_email", target_id=str(inbound.pk))
    assert (entry.action, entry.actor, entry.summary) == (
        "inbound.file_anyway",
        admin_user,
        "Filed anyway: filed as ACME-1",
    )


def test_file_anyway_files_mail_the_loop_guard_refused(tenant, mailbox, admin_user):
    with tenant_context(tenant):
        our_id = outgoing.message_id_for(tenant.pk, 41, "ack")
    raw = (
        f"From: Pat <pat@example.com>\r\nSubject: Bounced back\r\nMessage-ID: {our_id}\r\n\r\nhi\r\n"
    ).encode()
    inbound = _quarantine(tenant, mailbox, raw)
    assert "mail loop" in inbound.reason
    with tenant_context(tenant):
        result = quarantine_actions.quarantine_file_anyway(inbound=inbound, actor=admin_user)
        assert result.status == "processed" and result.ticket.subject == "Bounced back"


def test_file_anyway_still_needs_a_sender(tenant, mailbox, admin_user, login):
    inbound = _quarantine(tenant, mailbox, mail(sender=""))
    response = login(admin_user).post(_url("quarantine_file_anyway", tenant, inbound), follow=True)
    assert f"Still quarantined: {NO_SENDER}" in response.content.decode()
    with tenant_context(tenant):
        assert Ticket.objects.count() == 0
        entry = AuditEntry.objects.get(target_type="inbound_email", target_id=str(inbound.pk))
    assert entry.summary.startswith("Filed anyway: still quarantined")


def test_two_admins_clicking_at_once_file_it_once(tenant, mailbox, admin_user, settings):
    inbound = _oversized(tenant, mailbox, settings)
    settings.INBOUND_EMAIL_MAX_BYTES = 10_000
    with tenant_context(tenant):
        quarantine_actions.quarantine_reprocess(inbound=inbound, actor=admin_user)
        with pytest.raises(ValidationError, match="no longer in quarantine"):
            quarantine_actions.quarantine_file_anyway(inbound=inbound, actor=admin_user)
        assert Ticket.objects.count() == 1
        assert AuditEntry.objects.filter(target_type="inbound_email").count() == 1


def test_services_refuse_agents_and_record_nothing(tenant, mailbox, agent, settings):
    inbound = _oversized(tenant, mailbox, settings)
    settings.INBOUND_EMAIL_MAX_BYTES = 10_000
    with tenant_context(tenant):
        for action in (
            quarantine_actions.quarantine_reprocess,
            quarantine_actions.quarantine_file_anyway,
            quarantine_actions.quarantine_raw_download,
        ):
            with pytest.raises(PermissionDenied):
                action(inbound=inbound, actor=agent)
        inbound.refresh_from_db()
        assert inbound.status == "quarantined" and Ticket.objects.count() == 0
        assert AuditEntry.objects.filter(target_type="inbound_email").count() == 0


def test_an_action_that_cannot_be_recorded_is_undone(tenant, mailbox, admin_user, settings):
    inbound = _oversized(tenant, mailbox, settings)
    with (
        tenant_context(tenant),
        mock.patch.object(quarantine_actions, "audit_record", side_effect=RuntimeError("db")),
        pytest.raises(RuntimeError),
    ):
        quarantine_actions.quarantine_file_anyway(inbound=inbound, actor=admin_user)
    with tenant_context(tenant):
        inbound.refresh_from_db()
        assert inbound.status == "quarantined" and Ticket.objects.count() == 0
