"""Full-text search over tickets: subjects, requesters and message bodies.

The words live in three search tables (tickets/models/search.py), each with a
GIN index on (tenant_id, search_vector), read through one function that
keeps those indexes in use under row-level security without a superuser
(README, "Search"); search_index_check warns when it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from helpdesk.tenancy import current_tenant

from .models import SEARCH_CONFIG, Ticket

PAGE_SIZE = 25
MAX_RESULTS = 200
MAX_QUERY_LENGTH = 200
# Matches taken from each of the three sources before ranking. A word found in
# a large share of a big tenant's tickets would otherwise mean reading and
# ranking hundreds of thousands of rows; past this the page asks for more words.
CANDIDATES_PER_SOURCE = 2000

# ts_headline marks matches with these private-use characters; the text is
# HTML-escaped first and only then are the markers turned into <mark> tags.
_START, _STOP = "\ue000", "\ue001"
_HIGHLIGHT = re.compile(f"{_START}([^{_START}{_STOP}]*){_STOP}")
_HEADLINE_OPTIONS = f'StartSel="{_START}", StopSel="{_STOP}"'
_SNIPPET_OPTIONS = (
    f'{_HEADLINE_OPTIONS}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
)
_WHOLE_OPTIONS = f"{_HEADLINE_OPTIONS}, HighlightAll=true"

# The query as tsquery text built by `tsquery_text` (what people type:
# words matched by their beginning, "quoted phrases" exactly, or, -not);
# every word is quoted, so to_tsquery never sees syntax of the user's.
_TSQUERY = "to_tsquery(%(config)s::regconfig, %(query)s)"
# Words this long or longer also match as the beginning of longer words
# ("print" finds "printer"); shorter ones would match too much of a tenant.
PREFIX_MIN_LENGTH = 3

# The matches come from tickets_search_matches (migration 0018): it reads the
# search tables as their owner, which the tenant policy does not bind there,
# filtered by the policy's own tenant predicate, so the GIN indexes answer
# the match whether or not ts_match_vq is LEAKPROOF. It returns at most
# `candidates` of each source; everything else here runs under the policy.
# MATERIALIZED: the function runs once, not once per reference.
# The tenant is given as bigint, tenant_id's type, for its btree indexes.
_SEARCH_SQL = f"""
WITH matches AS MATERIALIZED (
    SELECT source, source_id, ticket_id, rank
    FROM tickets_search_matches({_TSQUERY}, %(candidates)s)
), hits AS (
    SELECT source, ticket_id, rank,
        CASE WHEN source = 'm' THEN source_id END AS message_id
    FROM matches
    WHERE source <> 'r'
    UNION ALL
    -- A requester's tickets, each with the requester's rank.
    (SELECT 'r', t.id, m.rank, NULL
     FROM matches m
     JOIN tickets_ticket t ON t.tenant_id = %(tenant)s::bigint AND t.requester_id = m.source_id
     WHERE m.source = 'r'
     LIMIT %(candidates)s)
), ranked AS (
    -- One row per ticket: its subject and requester scores plus its best message.
    SELECT ticket_id,
        coalesce(sum(rank) FILTER (WHERE source <> 'm'), 0)
            + coalesce(max(rank) FILTER (WHERE source = 'm'), 0) AS rank,
        (array_agg(message_id ORDER BY rank DESC, message_id)
            FILTER (WHERE source = 'm'))[1] AS message_id
    FROM hits
    GROUP BY ticket_id
    ORDER BY rank DESC, ticket_id DESC
    LIMIT %(limit)s
)
SELECT r.ticket_id,
    ts_headline(%(config)s::regconfig, translate(t.subject, %(markers)s, ''),
        {_TSQUERY}, %(whole)s),
    ts_headline(%(config)s::regconfig,
        translate(concat_ws(' · ', nullif(c.name, ''), c.email), %(markers)s, ''),
        {_TSQUERY}, %(whole)s),
    ts_headline(%(config)s::regconfig, translate(m.body_text, %(markers)s, ''),
        {_TSQUERY}, %(snippet)s),
    (SELECT count(*) FROM hits GROUP BY source ORDER BY 1 DESC LIMIT 1)
        >= %(candidates)s AS capped,
    (SELECT count(DISTINCT ticket_id) FROM hits) AS total
FROM ranked r
JOIN tickets_ticket t ON t.tenant_id = %(tenant)s::bigint AND t.id = r.ticket_id
JOIN tickets_contact c ON c.tenant_id = t.tenant_id AND c.id = t.requester_id
-- The snippet comes from the best-matching message, else the first one.
LEFT JOIN LATERAL (
    SELECT body_text FROM tickets_message
    WHERE tenant_id = t.tenant_id AND ticket_id = t.id
        AND (r.message_id IS NULL OR id = r.message_id)
    ORDER BY created_at, id
    LIMIT 1
) m ON true
ORDER BY r.rank DESC, r.ticket_id DESC
"""


@dataclass(frozen=True)
class SearchHit:
    ticket: Ticket
    subject_html: SafeString
    requester_html: SafeString
    snippet_html: SafeString


@dataclass(frozen=True)
class SearchResults:
    hits: list[SearchHit]
    has_more: bool
    # More matches than CANDIDATES_PER_SOURCE: the best of those found are shown.
    capped: bool
    # Tickets found (at least this many when capped).
    total: int = 0
    # No ticket matched what was typed; these match the words cut by a letter
    # (a slip at the end of a word: "printr" finds "printer").
    retried_as: str = ""


def _lexeme(word: str, prefix: bool) -> str:
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + (":*" if prefix and len(word) >= PREFIX_MIN_LENGTH else "")


def tsquery_text(query: str) -> str:
    """What people type, as tsquery text: words (matched by their beginning),
    "quoted phrases" (exactly, in order), `or` between terms, `-word` to
    leave out; every word is quoted, so nothing typed is read as syntax."""
    terms: list[str] = []
    pending_or = False
    for token in re.findall(r'-?"[^"]*"?|\S+', query):
        negate = token.startswith("-") and len(token) > 1
        token = token[1:] if negate else token
        if token.lower() == "or" and not negate:
            pending_or = bool(terms)
            continue
        if token.startswith('"'):
            words = token.strip('"').split()
            if not words:
                continue
            term = "(" + " <-> ".join(_lexeme(word, prefix=False) for word in words) + ")"
        else:
            term = _lexeme(token, prefix=not negate)
        if negate:
            term = "!" + term
        if pending_or and not negate:
            terms[-1] = f"({terms[-1]} | {term})"
        else:
            terms.append(term)
        pending_or = False
    return " & ".join(terms)


def _cut_by_a_letter(query: str) -> str:
    """The query with each plain word of five letters or more cut by its last
    letter, for a second try when nothing matched."""
    return " ".join(
        word[:-1] if len(word) >= 5 and re.fullmatch(r"[^\W\d_]+", word) else word
        for word in query.split()
    )


def _highlighted(headline: str | None) -> SafeString:
    """ts_headline output as HTML: everything escaped, the matches in <mark>."""
    escaped = _HIGHLIGHT.sub(r"<mark>\1</mark>", str(escape(headline or "")))
    # Safe: the text was escaped above and the only tags added are <mark>.
    return mark_safe(escaped.replace(_START, "").replace(_STOP, ""))  # noqa: S308


def search_query_problem(query: str) -> str | None:
    """Why a query cannot be searched, in words for the person who typed it."""
    if not query.strip():
        return 'Type a word, a "quoted phrase" or a ticket number such as 1042.'
    # Search needs a word to look up; "-refund" alone would match nearly everything.
    words = [w for w in re.findall(r'"[^"]*"|\S+', query) if not w.startswith("-")]
    if not any(re.search(r"[^\W_]", w) and w.lower() != "or" for w in words):
        return f"“{query}” has no words to search for. Try a word from the subject or a message."
    return None


def ticket_number_in(query: str, *, prefix: str) -> int | None:
    """The ticket number if the query is only one: 1042, #1042, ACME-1042 (any case)."""
    match = re.fullmatch(
        rf"(?:{re.escape(prefix)}[-\s]?)?#?(\d{{1,18}})", query.strip(), re.IGNORECASE
    )
    return int(match.group(1)) if match else None


def ticket_search_jump(*, query: str) -> int | None:
    """The number of the current tenant's ticket the query names, if it exists."""
    number = ticket_number_in(query, prefix=current_tenant().ticket_prefix)
    if number is None or not Ticket.objects.filter(number=number).exists():
        return None
    return number


def ticket_search(*, query: str, limit: int = PAGE_SIZE) -> SearchResults:
    """The current tenant's tickets matching the query, best first, one row per
    ticket with highlighted subject, requester and snippet (indexes *_search_idx).
    When nothing matches, words cut by a letter are tried once."""
    results = _ticket_search(query, limit)
    if not results.hits:
        cut = _cut_by_a_letter(query)
        if cut != query:
            retried = _ticket_search(cut, limit)
            if retried.hits:
                return SearchResults(
                    hits=retried.hits,
                    has_more=retried.has_more,
                    capped=retried.capped,
                    total=retried.total,
                    retried_as=cut,
                )
    return results


def _ticket_search(query: str, limit: int) -> SearchResults:
    text = tsquery_text(query[:MAX_QUERY_LENGTH])
    if not text:
        return SearchResults(hits=[], has_more=False, capped=False)
    tenant = current_tenant()
    params = {
        "config": SEARCH_CONFIG,
        "query": text,
        "tenant": tenant.pk,
        "candidates": CANDIDATES_PER_SOURCE,
        "limit": limit + 1,
        "markers": _START + _STOP,
        "whole": _WHOLE_OPTIONS,
        "snippet": _SNIPPET_OPTIONS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SEARCH_SQL, params)
        rows = cursor.fetchall()
    # The rows found by raw SQL pass through the scoped manager for display.
    tickets = Ticket.objects.select_related("tenant", "requester", "assignee").in_bulk(
        [row[0] for row in rows[:limit]]
    )
    hits = [
        SearchHit(
            ticket=tickets[ticket_id],
            subject_html=_highlighted(subject),
            requester_html=_highlighted(requester),
            snippet_html=_highlighted(snippet),
        )
        for ticket_id, subject, requester, snippet, _capped, _total in rows[:limit]
        if ticket_id in tickets
    ]
    return SearchResults(
        hits=hits,
        has_more=len(rows) > limit,
        capped=bool(rows and rows[0][4]),
        total=rows[0][5] if rows else 0,
    )
