"""Schemathesis against the API's own OpenAPI schema, served by the live test
server: every phase (examples, coverage, fuzzing, stateful) and every check,
a fixed seed and a bounded number of examples. Zero failures: the schema
says what the server does, and the server never answers a 500."""

import os

import schemathesis
from schemathesis import engine
from schemathesis.engine import Status, events

from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.api.conftest import make_key
from tests.factories import MembershipFactory, SupportGroupFactory, TicketFactory

# A quick, fixed run in the suite; API_FUZZ_EXAMPLES=200 API_FUZZ_SEED=<n>
# make test ARGS="tests/api/test_schema_fuzz.py" for a longer one.
SEED = int(os.environ.get("API_FUZZ_SEED", "20260101"))
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))


def _config(key: str, usernames: list[str], groups: list[str]) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            # Nothing carried from one run to the next: the same run every time.
            "cache": {"enabled": False},
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "auth": {"openapi": {"ApiKey": {"bearer": key}}},
            # A kept-alive connection keeps its server thread, and that thread
            # its database connection, past the end of the test session.
            "headers": {"Connection": "close"},
            # One tenant: a made-up slug is a wrong key (401), which says little.
            "parameters": {
                "api_tenant": "acme",
                "body.assignee": {"dictionary": "agents", "probability": 0.8},
                "body.agent": {"dictionary": "agents", "probability": 0.8},
                "body.group": {"dictionary": "groups", "probability": 0.8},
            },
            "dictionaries": {"agents": {"values": usernames}, "groups": {"values": groups}},
            "checks": {
                # The schema says what a well-formed request is. Whether its
                # agent exists, its ticket is still open or its version is
                # current is the server's to say, with a 400 or 409 (tested
                # one by one in test_api.py); every other check is as shipped.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
                },
            },
        }
    )


def _failures(stream) -> list[str]:
    found = []
    for event in stream:
        if isinstance(event, events.FatalError):
            found.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.NonFatalError):
            found.append(f"error in {event.label}: {event.value!r}")
        elif isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE:
                        info = check.failure_info
                        found.append(
                            f"{event.recorder.label}: {check.name}: "
                            f"{info.failure.title if info else ''} "
                            f"{info.failure.message if info else ''} "
                            f"{info.code_sample if info else ''}"
                        )
    return found


def test_the_api_keeps_to_its_schema(live_server, tenant, admin_user, settings):
    settings.API_RATE = "1000000/min"
    agents = [MembershipFactory(tenant=tenant, role=Membership.Role.AGENT).user for _ in range(2)]
    with tenant_context(tenant):
        groups = [SupportGroupFactory(name=name) for name in ("Billing", "Hardware")]
        for _ in range(3):
            TicketFactory()
    key = make_key(tenant, actor=admin_user)[1]
    config = _config(
        key,
        usernames=[user.username for user in agents],
        groups=[group.name for group in groups] + [str(group.pk) for group in groups],
    )
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/v1/schema/?format=json", config=config
    )
    failures = _failures(engine.from_schema(schema).execute())
    assert not failures, "\n\n".join(failures)


def test_the_schema_states_what_the_server_checks(client):
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    ticket_path = schema["paths"]["/api/v1/{api_tenant}/tickets/{number}/"]
    patch_body = ticket_path["patch"]["requestBody"]["content"]["application/json"]["schema"]
    update = components[patch_body["$ref"].rsplit("/", 1)[1]]
    assert update["required"] == ["version"]
    tags = update["properties"]["tags"]
    assert tags["maxItems"] == 20
    assert tags["items"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"
    assert {"400", "405", "409", "413", "415", "429"} <= set(ticket_path["patch"]["responses"])
    create = schema["paths"]["/api/v1/{api_tenant}/tickets/"]["post"]["responses"]
    assert {"400", "401", "403", "405", "413", "415", "429"} <= set(create)
    number = next(p for p in ticket_path["patch"]["parameters"] if p["name"] == "number")
    assert number["schema"] == {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
