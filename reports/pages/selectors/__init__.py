"""Reads of the report pages. Every page reads the facts through these
functions only (raw SQL on the facts' tenant-first indexes), so moving the
facts to a read replica or a columnar store changes this package alone."""

from .causes import CausesReport, Change, causes
from .channels import ChannelsReport, channels
from .common import BOUNCES, Filters
from .efficiency import Efficiency, EfficiencyReport, efficiency
from .load import AgentLoad, LoadDay, agent_loads, load_history
from .quality import (
    CategoryRating,
    QualityReport,
    RatingComment,
    RatingPoint,
    quality,
    ratings_page,
)
from .stalls import Bouncer, Dwell, Handoff, StallsReport, stalls

__all__ = [
    "BOUNCES",
    "AgentLoad",
    "Bouncer",
    "CategoryRating",
    "CausesReport",
    "Change",
    "ChannelsReport",
    "Dwell",
    "Efficiency",
    "EfficiencyReport",
    "Filters",
    "Handoff",
    "LoadDay",
    "QualityReport",
    "RatingComment",
    "RatingPoint",
    "StallsReport",
    "agent_loads",
    "causes",
    "channels",
    "efficiency",
    "load_history",
    "quality",
    "ratings_page",
    "stalls",
]
