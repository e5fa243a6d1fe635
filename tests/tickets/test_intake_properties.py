"""Whatever bytes arrive, intake never crashes and never loses them: each
message ends as a ticket, a follow-up, or quarantined with a reason."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpdesk.tenancy import tenant_context
from tickets import intake
from tickets.models import InboundEmail

HEADER_NAMES = ["From", "To", "Cc", "Subject", "Content-Type", "Content-Transfer-Encoding",
                "MIME-Version", "Message-ID", "In-Reply-To", "Auto-Submitted"]  # fmt: skip

header_line = st.builds(
    lambda name, value: f"{name}: {value}\r\n".encode("utf-8", "surrogateescape"),
    st.sampled_from(HEADER_NAMES),
    st.text(max_size=80).map(lambda text: text.replace("\r", " ").replace("\n", " ")),
)
mail_shaped = st.builds(
    lambda headers, body: b"".join(headers) + b"\r\n" + body,
    st.lists(header_line, max_size=8),
    st.binary(max_size=600),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.one_of(st.binary(min_size=1, max_size=800), mail_shaped))
def test_any_bytes_end_stored_as_a_ticket_or_quarantined(tenant, mailbox, raw):
    with tenant_context(tenant):
        inbound, _ = intake.inbound_store(mailbox=mailbox, raw=raw)
        inbound = intake.inbound_process(inbound=inbound)
        inbound.refresh_from_db()
        assert bytes(inbound.raw) == raw
        if inbound.status == InboundEmail.Status.PROCESSED:
            assert inbound.ticket_id is not None and inbound.message_id is not None
        else:
            assert inbound.status == InboundEmail.Status.QUARANTINED
            assert inbound.reason


# Mail that mostly parses, so that batches hold runs of new requests, copies
# (a reused Message-ID with the same or another body), subject tokens, and
# senders that pass the parser but not address validation.
plausible_mail = st.builds(
    lambda local, subject, body, message_id: (
        f"From: Someone <{local}@example.com>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}@example.com>\r\nContent-Type: text/plain; charset=utf-8"
        f"\r\n\r\n{body}\r\n"
    ).encode("utf-8", "surrogateescape"),
    st.sampled_from(["pat", "sam.ortiz", "a+b", "bad..dots", "ünï", "x" * 70]),
    st.sampled_from(["Printer on fire", "Re: [ACME-1] again", "[ACME-99] who?", ""]),
    st.text(max_size=60).map(lambda text: text.replace("\r", " ")),
    st.sampled_from(["one", "two", "three"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raws=st.lists(
        st.one_of(st.binary(min_size=1, max_size=400), mail_shaped, plausible_mail), max_size=6
    )
)
def test_any_batch_of_bytes_ends_filed_or_quarantined_whole(tenant, mailbox, raws):
    """The worker's batch step (new mail written together, copies joined,
    a refused bulk write refiled one by one) loses nothing either."""
    with tenant_context(tenant):
        results = [intake.inbound_store(mailbox=mailbox, raw=raw) for raw in raws]
        stored = {inbound.pk for inbound, _ in results}
        new = {inbound.pk for inbound, created in results if created}
        done = intake.inbound_process_pending(limit=10)
        # Bytes stored before (in this run or an earlier example) are not new.
        assert {inbound.pk for inbound in done} == new
        for inbound in InboundEmail.objects.filter(pk__in=stored):
            if inbound.status == InboundEmail.Status.PROCESSED:
                assert inbound.ticket_id is not None and inbound.message_id is not None
            else:
                assert inbound.status == InboundEmail.Status.QUARANTINED
                assert inbound.reason
        assert not InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED).exists()
