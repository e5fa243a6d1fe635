"""Choosing an agent among a group's members: pure functions over
`Candidate`s (read without locks; the router then claims the best one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

# A ticket's weight by priority when the tenant set none: urgent 3, high 2,
# normal 1, low 1.
DEFAULT_WEIGHTS = {"4": Decimal(3), "3": Decimal(2), "2": Decimal(1), "1": Decimal(1)}
_EPOCH = datetime.min


@dataclass(frozen=True)
class LoadWeights:
    """A tenant's weight table (`dispatch.selectors.weights`): by priority,
    and the tenant's own cells by channel and priority."""

    priority: dict[str, Decimal]
    channel: dict[str, dict[str, Decimal]]
    waiting_fraction: Decimal = Decimal(0)

    def of(self, priority, channel: str = "") -> Decimal:
        """An active ticket's weight: its channel's own cell, else by priority."""
        own = self.channel.get(channel or "", {}).get(str(priority))
        return own if own is not None else self.priority.get(str(priority), Decimal(1))

    def get(self, key: str, default=None):
        """The table as the weights page shows it: "4", or "4:email" for a cell."""
        priority, _, channel = str(key).partition(":")
        if channel:
            return self.channel.get(channel, {}).get(priority, default)
        return self.priority.get(priority, default)

    @property
    def lightest(self) -> Decimal:
        cells = [v for row in self.channel.values() for v in row.values()]
        return min([*self.priority.values(), *cells], default=Decimal(1))


@dataclass
class Candidate:
    user_id: int
    name: str
    availability: str
    capacity: int
    load: Decimal
    last_assigned_at: datetime | None
    skill_score: int = 0
    filtered: str = ""  # why this agent may not take it ("" = may)
    score: float | None = None
    # The status row's id and `routing_version` as read with `load`: the claim
    # succeeds only if both still hold.
    status_id: int | None = None
    version: int = 0
    # "overflow": a member of the group's overflow group, not of the group.
    via: str = ""
    user: object | None = field(default=None, repr=False, compare=False)

    def as_record(self) -> dict:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "availability": self.availability,
            "load": float(self.load),
            "capacity": self.capacity,
            "skill_score": self.skill_score,
            "score": self.score,
            "filtered": self.filtered,
            **({"via": self.via} if self.via else {}),
        }


def skill_score(agent_skills: dict, required: dict) -> tuple[int, list[str]]:
    """The agent's summed levels of the required skills, and those missing
    or below the required level."""
    missing = [
        name for name, level in required.items() if int(agent_skills.get(name, 0)) < int(level)
    ]
    return sum(int(agent_skills.get(name, 0)) for name in required), missing


def filter_candidates(candidates: list[Candidate], weight: Decimal) -> list[Candidate]:
    """Mark who may not take a ticket of `weight` and why; the others, in order."""
    eligible = []
    for candidate in candidates:
        if candidate.filtered:
            continue
        if candidate.availability != "online":
            candidate.filtered = candidate.availability
        elif candidate.load + weight > candidate.capacity:
            candidate.filtered = f"at capacity ({candidate.load:g} of {candidate.capacity})"
        else:
            eligible.append(candidate)
    return eligible


def _since(candidate: Candidate) -> datetime:
    value = candidate.last_assigned_at
    return value.replace(tzinfo=None) if value else _EPOCH


def rank(strategy: str, eligible: list[Candidate]) -> tuple[list[Candidate], str]:
    """`eligible` best first by `strategy` (scores set), and why the first
    wins, in words; the router claims them in this order until one holds."""
    if not eligible:
        return [], ""
    if strategy == "round_robin":
        for candidate in eligible:
            candidate.score = None
        ranked = sorted(eligible, key=lambda c: (_since(c), c.user_id))
        return ranked, "next in turn: the longest since their last assignment"
    if strategy == "skill":
        for candidate in eligible:
            candidate.score = float(candidate.skill_score)
        ranked = sorted(
            eligible, key=lambda c: (-c.skill_score, c.load / c.capacity, _since(c), c.user_id)
        )
        return ranked, f"best skill match (score {ranked[0].skill_score}), then least loaded"
    for candidate in eligible:
        candidate.score = round(float(candidate.load / candidate.capacity), 3)
    ranked = sorted(eligible, key=lambda c: (c.load / c.capacity, _since(c), c.user_id))
    return ranked, (
        f"least loaded ({ranked[0].load:g} of {ranked[0].capacity}), "
        "then the longest since their last assignment"
    )


def why(strategy: str, winner: Candidate) -> str:
    """Why `winner` won, in words (after a claim moved past busier candidates)."""
    if strategy == "round_robin":
        return "next in turn: the longest since their last assignment"
    if strategy == "skill":
        return f"best skill match (score {winner.skill_score}), then least loaded"
    return (
        f"least loaded ({winner.load:g} of {winner.capacity}), "
        "then the longest since their last assignment"
    )


def choose(strategy: str, eligible: list[Candidate]) -> tuple[Candidate | None, str]:
    """The winner among `eligible` by `strategy`, and why it won, in words."""
    ranked, reason = rank(strategy, eligible)
    return (ranked[0] if ranked else None), reason
