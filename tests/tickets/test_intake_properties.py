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
