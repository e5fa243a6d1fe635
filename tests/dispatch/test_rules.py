"""The pure rule evaluation: every condition, every action, all/any, stop,
negation, and the editor's validation."""

from dataclasses import dataclass, field
from datetime import datetime, time

import pytest

from dispatch.rules import BusinessHours, TicketFacts, evaluate, normalize_text, rule_problems


@dataclass
class Rule:
    conditions: list
    actions: dict = field(default_factory=lambda: {"group": 1})
    match: str = "all"
    stop: bool = False
    is_enabled: bool = True
    name: str = "rule"
    pk: int = 1


def matches(condition: dict, facts: TicketFacts, hours=None) -> bool:
    return bool(evaluate([Rule([condition])], facts, hours).matched)


MONDAY_10 = datetime(2026, 11, 30, 10, 0)
SUNDAY_10 = datetime(2026, 11, 29, 10, 0)


def test_words_match_whole_words_ignoring_case_and_accents():
    facts = TicketFacts(subject="Rückerstattung für RECHNUNG 42", body="")
    assert matches({"field": "subject", "value": ["ruckerstattung"]}, facts)
    assert matches({"field": "text", "value": ["rechnung"]}, facts)
    # A part of a word is not the word.
    assert not matches({"field": "subject", "value": ["rechnun"]}, facts)
    assert not matches({"field": "subject", "value": ["erstattung"]}, facts)


def test_phrases_match_only_in_order_and_subject_and_body_are_apart():
    facts = TicketFacts(subject="Hello", body="I was charged   twice, sadly")
    assert matches({"field": "body", "value": ["charged twice"]}, facts)
    assert not matches({"field": "body", "value": ["twice charged"]}, facts)
    assert not matches({"field": "subject", "value": ["charged"]}, facts)
    assert matches({"field": "text", "value": ["refund", "charged"]}, facts)


@pytest.mark.parametrize(
    ("condition", "facts", "expected"),
    [
        ({"field": "channel", "value": ["email"]}, TicketFacts(channel="email"), True),
        ({"field": "channel", "value": ["web"]}, TicketFacts(channel="email"), False),
        (
            {"field": "requester_email", "value": ["Pat@Ex.com"]},
            TicketFacts(requester_email="pat@ex.com"),
            True,
        ),  # noqa: E501
        (
            {"field": "requester_email", "value": ["sam@ex.com"]},
            TicketFacts(requester_email="pat@ex.com"),
            False,
        ),  # noqa: E501
        (
            {"field": "requester_domain", "value": ["ex.com"]},
            TicketFacts(requester_email="pat@EX.com"),
            True,
        ),  # noqa: E501
        (
            {"field": "requester_domain", "value": ["x.com"]},
            TicketFacts(requester_email="pat@ex.com"),
            False,
        ),  # noqa: E501
        ({"field": "organization", "value": [7]}, TicketFacts(organization=7), True),
        ({"field": "organization", "value": [7]}, TicketFacts(organization=None), False),
        ({"field": "category", "value": [3, 4]}, TicketFacts(category=4), True),
        ({"field": "category", "value": [3]}, TicketFacts(category=4), False),
        ({"field": "tag", "value": ["VIP"]}, TicketFacts(tags=("vip", "x")), True),
        ({"field": "tag", "value": ["vip"]}, TicketFacts(tags=("x",)), False),
        ({"field": "priority", "value": [4]}, TicketFacts(priority=4), True),
        ({"field": "priority", "value": [3]}, TicketFacts(priority=4), False),
        ({"field": "type", "value": ["incident"]}, TicketFacts(type="incident"), True),
        ({"field": "type", "value": ["task"]}, TicketFacts(type="incident"), False),
        ({"field": "mailbox", "value": [2]}, TicketFacts(mailbox=2), True),
        ({"field": "mailbox", "value": [2]}, TicketFacts(mailbox=None), False),
        ({"field": "business_hours", "value": True}, TicketFacts(arrived_local=MONDAY_10), True),
        ({"field": "business_hours", "value": True}, TicketFacts(arrived_local=SUNDAY_10), False),
        ({"field": "business_hours", "value": False}, TicketFacts(arrived_local=SUNDAY_10), True),
        (
            {"field": "channel", "value": ["email"], "negate": True},
            TicketFacts(channel="web"),
            True,
        ),  # noqa: E501
    ],
)
def test_each_condition(condition, facts, expected):
    assert matches(condition, facts) is expected


def test_business_hours_follow_the_tenants_window():
    late = BusinessHours(days=frozenset({7}), start=time(8), end=time(12))
    assert matches(
        {"field": "business_hours", "value": True}, TicketFacts(arrived_local=SUNDAY_10), late
    )  # noqa: E501
    assert not matches(
        {"field": "business_hours", "value": True}, TicketFacts(arrived_local=MONDAY_10), late
    )  # noqa: E501


def test_all_needs_every_condition_any_needs_one():
    facts = TicketFacts(channel="email", priority=2)
    conditions = [{"field": "channel", "value": ["email"]}, {"field": "priority", "value": [4]}]
    assert not evaluate([Rule(conditions, match="all")], facts).matched
    assert evaluate([Rule(conditions, match="any")], facts).matched


def test_actions_merge_in_order_tags_add_up_and_stop_ends_the_run():
    facts = TicketFacts(channel="email")
    email = [{"field": "channel", "value": ["email"]}]
    rules = [
        Rule(email, {"group": 1, "add_tags": ["a"], "priority": 3}, pk=1, name="first"),
        Rule(email, {"group": 2, "add_tags": ["b"], "type": "incident", "category": 5}, pk=2),
        Rule(email, {"assignee": 9, "review": True}, stop=True, pk=3),
        Rule(email, {"group": 99}, pk=4),
    ]
    result = evaluate(rules, facts)
    assert [s.rule_id for s in result.matched] == [1, 2, 3]
    assert result.actions == {
        "group": 2, "add_tags": ["a", "b"], "priority": 3, "type": "incident",
        "category": 5, "assignee": 9, "review": True,
    }  # fmt: skip
    assert result.steps[-1].stopped


def test_disabled_rules_are_skipped_and_steps_say_what_held():
    facts = TicketFacts(channel="web", subject="outage")
    rules = [
        Rule([{"field": "channel", "value": ["web"]}], is_enabled=False, pk=1),
        Rule(
            [{"field": "subject", "value": ["outage"]}, {"field": "channel", "value": ["email"]}],
            pk=2,
        ),  # noqa: E501
    ]
    result = evaluate(rules, facts)
    assert [s.rule_id for s in result.steps] == [2]
    assert [held for _, held in result.steps[0].checks] == [True, False]
    assert "Subject contains “outage”" in result.steps[0].checks[0][0]


def test_normalize_text():
    assert normalize_text("Ça coûte 20€, d'accord?") == ["ca", "coute", "20", "d", "accord"]


KNOWN = {
    "group": {"1"},
    "category": {"5"},
    "assignee": {"9"},
    "mailbox": set(),
    "organization": set(),
}  # noqa: E501


def test_validation_names_every_problem():
    assert rule_problems(match="all", conditions=[], actions={"group": 1}, known=KNOWN) == [
        "Give the rule at least one condition: a rule without one never matches."
    ]
    problems = rule_problems(
        match="all",
        conditions=[{"field": "subject", "value": ["?!"]}, {"field": "colour", "value": ["red"]}],
        actions={"group": 2, "launch": True},
        known=KNOWN,
    )
    assert any("never matches" in p for p in problems)
    assert "Unknown condition 'colour'." in problems
    assert "Unknown action 'launch'." in problems
    assert "The group this rule sets no longer exists; choose another." in problems


def test_contradictory_all_rule_can_never_match():
    problems = rule_problems(
        match="all",
        conditions=[
            {"field": "channel", "value": ["email"]},
            {"field": "channel", "value": ["web"]},
        ],
        actions={"group": 1},
        known=KNOWN,
    )
    assert any("can never match" in p for p in problems)
    assert not rule_problems(
        match="any",
        conditions=[
            {"field": "channel", "value": ["email"]},
            {"field": "channel", "value": ["web"]},
        ],
        actions={"group": 1},
        known=KNOWN,
    )
