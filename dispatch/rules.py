"""Routing rules as pure functions: what a rule's conditions and actions
may say, checking them, and evaluating an ordered rule set against one
ticket's facts. Nothing here reads or writes the database."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time

# Condition fields and the kind of value each takes.
WORDS = "words"  # list of words or phrases, whole words, case and accents ignored
CHOICES = "choices"  # list of values, one must equal the ticket's
FLAG = "flag"  # True (inside business hours) or False (outside)

CONDITION_FIELDS: dict[str, tuple[str, str]] = {
    "subject": (WORDS, "Subject contains"),
    "body": (WORDS, "Message contains"),
    "text": (WORDS, "Subject or message contains"),
    "channel": (CHOICES, "Channel is"),
    "requester_email": (CHOICES, "Requester's email is"),
    "requester_domain": (CHOICES, "Requester's domain is"),
    "organization": (CHOICES, "Organisation is"),
    "category": (CHOICES, "Category is"),
    "tag": (CHOICES, "Has tag"),
    "priority": (CHOICES, "Priority is"),
    "type": (CHOICES, "Type is"),
    "mailbox": (CHOICES, "Arrived in mailbox"),
    "business_hours": (FLAG, "Arrived inside business hours"),
}
ACTION_FIELDS = (
    "group", "category", "priority", "type", "add_tags", "assignee", "review",
)  # fmt: skip


@dataclass(frozen=True)
class TicketFacts:
    """What rules look at, read once per ticket (`dispatch.selectors.ticket_facts`)."""

    subject: str = ""
    body: str = ""
    channel: str = ""
    requester_email: str = ""
    organization: int | None = None
    category: int | None = None
    tags: tuple[str, ...] = ()
    priority: int | None = None
    type: str = ""
    mailbox: int | None = None
    # The arrival in the tenant's time zone (None: unknown).
    arrived_local: datetime | None = None

    @property
    def requester_domain(self) -> str:
        return self.requester_email.rpartition("@")[2].lower()


@dataclass(frozen=True)
class BusinessHours:
    """A simple weekly window: ISO weekdays (1 = Monday) from `start` to `end`."""

    days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    start: time = time(9)
    end: time = time(17)

    def contains(self, moment: datetime) -> bool:
        return moment.isoweekday() in self.days and self.start <= moment.time() < self.end


def normalize_text(text: str) -> list[str]:
    """Words of `text`, lower-case, without accents: "Rückerstattung!" -> ["ruckerstattung"]."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.findall(r"\w+", plain.casefold())


def _has_phrase(words: Sequence[str], phrase: Sequence[str]) -> bool:
    if not phrase:
        return False
    size = len(phrase)
    first = phrase[0]
    return any(
        words[i] == first and list(words[i : i + size]) == list(phrase)
        for i in range(len(words) - size + 1)
    )


@dataclass
class Step:
    """One rule's outcome in an evaluation: for the tester and the decision record."""

    rule_id: int | None
    name: str
    matched: bool
    checks: list[tuple[str, bool]]  # (what was checked, in words; held?)
    actions: dict = field(default_factory=dict)
    stopped: bool = False


@dataclass
class Evaluation:
    steps: list[Step]
    # The merged actions of every matched rule (later rules override; tags add up).
    actions: dict

    @property
    def matched(self) -> list[Step]:
        return [step for step in self.steps if step.matched]


class _Text:
    """The ticket's words, split once per evaluation."""

    def __init__(self, facts: TicketFacts):
        self.subject = normalize_text(facts.subject)
        self.body = normalize_text(facts.body)


def _condition_holds(
    condition: dict, facts: TicketFacts, text: _Text, hours: BusinessHours
) -> bool:
    name, value = condition["field"], condition.get("value")
    kind = CONDITION_FIELDS[name][0]
    if kind == WORDS:
        phrases = [normalize_text(phrase) for phrase in value or ()]
        sources = {"subject": [text.subject], "body": [text.body]}.get(
            name, [text.subject, text.body]
        )
        held = any(_has_phrase(words, phrase) for words in sources for phrase in phrases)
    elif kind == FLAG:
        inside = facts.arrived_local is not None and hours.contains(facts.arrived_local)
        held = inside == bool(value)
    elif name == "tag":
        held = bool(set(facts.tags) & {str(v).lower() for v in value or ()})
    elif name in ("requester_email", "requester_domain"):
        mine = getattr(facts, name).lower()
        held = mine in {str(v).strip().lower() for v in value or ()}
    else:
        mine = getattr(facts, name)
        held = mine is not None and str(mine) in {str(v) for v in value or ()}
    return held != bool(condition.get("negate"))


def describe_condition(condition: dict, labels: dict | None = None) -> str:
    """A condition in words, for the editor and the tester."""
    name = condition["field"]
    kind, label = CONDITION_FIELDS[name]
    value = condition.get("value")
    if kind == FLAG:
        text = label if value else "Arrived outside business hours"
    else:
        shown = [(labels or {}).get((name, str(v)), str(v)) for v in value or ()]
        quoted = [f"“{v}”" for v in shown] if kind == WORDS else shown
        text = f"{label} {' or '.join(quoted)}"
    return f"Not: {text}" if condition.get("negate") else text


def merge_actions(into: dict, actions: dict) -> None:
    for key, value in actions.items():
        if key == "add_tags":
            into["add_tags"] = list(dict.fromkeys([*into.get("add_tags", []), *value]))
        else:
            into[key] = value


def evaluate(
    rules: Iterable, facts: TicketFacts, hours: BusinessHours | None = None, labels=None
) -> Evaluation:
    """Run enabled `rules` (objects with id, name, match, conditions, actions,
    stop, is_enabled) in order against `facts`: each step says what was
    checked and whether the rule matched; a matched rule with `stop` ends it."""
    hours = hours or BusinessHours()
    text = _Text(facts)
    steps: list[Step] = []
    actions: dict = {}
    for rule in rules:
        if not rule.is_enabled:
            continue
        checks = [
            (describe_condition(c, labels), _condition_holds(c, facts, text, hours))
            for c in rule.conditions
        ]
        results = [held for _, held in checks]
        matched = bool(results) and (all(results) if rule.match == "all" else any(results))
        step = Step(rule.pk, rule.name, matched, checks)
        steps.append(step)
        if matched:
            step.actions = dict(rule.actions)
            merge_actions(actions, rule.actions)
            if rule.stop:
                step.stopped = True
                break
    return Evaluation(steps, actions)


def rule_problems(
    *, match: str, conditions: list, actions: dict, known: dict[str, set[str]]
) -> list[str]:
    """What is wrong with a rule, in words a tenant admin can act on (empty:
    nothing). `known` maps a choice field (and action) to the values that
    exist now: groups, agents, categories, mailboxes, organisations."""
    problems: list[str] = []
    if match not in ("all", "any"):
        problems.append("Choose whether all or any of the conditions must hold.")
    if not conditions:
        problems.append("Give the rule at least one condition: a rule without one never matches.")
    for condition in conditions:
        name = condition.get("field")
        if name not in CONDITION_FIELDS:
            problems.append(f"Unknown condition {str(name)[:40]!r}.")
            continue
        kind, label = CONDITION_FIELDS[name]
        value = condition.get("value")
        if kind == FLAG:
            if not isinstance(value, bool):
                problems.append(f"{label}: say yes or no.")
            continue
        if not isinstance(value, list) or not value:
            problems.append(f"{label}: give at least one value.")
            continue
        if kind == WORDS and any(not normalize_text(str(v)) for v in value):
            problems.append(f"{label}: “{value[0]}” has no letters or digits, so it never matches.")
        if name in known:
            missing = [str(v) for v in value if str(v) not in known[name]]
            if missing:
                problems.append(f"{label}: {', '.join(missing)} no longer exists.")
    if match == "all":
        seen: dict[str, list] = {}
        for condition in conditions:
            name = condition.get("field")
            if name in ("channel", "priority", "type", "category", "mailbox", "organization"):
                if not condition.get("negate") and name in seen:
                    overlap = set(map(str, seen[name])) & set(
                        map(str, condition.get("value") or [])
                    )
                    if not overlap:
                        problems.append(
                            f"{CONDITION_FIELDS[name][1]} is required to be two different things "
                            "at once: the rule can never match."
                        )
                seen.setdefault(name, condition.get("value") or [])
    if not actions:
        problems.append("Give the rule at least one action.")
    for key, value in actions.items():
        if key not in ACTION_FIELDS:
            problems.append(f"Unknown action {str(key)[:40]!r}.")
        elif key in known and str(value) not in known[key]:
            what = {"group": "group", "assignee": "agent", "category": "category"}.get(key, key)
            problems.append(f"The {what} this rule sets no longer exists; choose another.")
    return problems
