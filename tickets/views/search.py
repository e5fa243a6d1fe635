"""The search page: results, or straight to the ticket a number names."""

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from helpdesk.parsing import parse_id

from ..search import (
    MAX_QUERY_LENGTH,
    MAX_RESULTS,
    PAGE_SIZE,
    search_query_problem,
    ticket_search,
    ticket_search_jump,
)


def _page_limit(value: str) -> int:
    """The ?limit= of the "more results" link, kept within PAGE_SIZE..MAX_RESULTS."""
    number = parse_id(value)
    return PAGE_SIZE if number is None else min(max(number, PAGE_SIZE), MAX_RESULTS)


@require_GET
def search_view(request, tenant_slug):
    """Search results, or straight to the ticket when the query is its number."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    number = ticket_search_jump(query=query) if query else None
    if number is not None:
        return redirect("tickets:detail", tenant_slug, number)
    limit = _page_limit(request.GET.get("limit", ""))
    problem = search_query_problem(query)
    results = None if problem else ticket_search(query=query, limit=limit)
    more = results is not None and results.has_more and limit < MAX_RESULTS
    return render(
        request,
        "tickets/search.html",
        {
            "search_query": query,
            "problem": problem,
            "results": results,
            "more_limit": min(limit + PAGE_SIZE, MAX_RESULTS) if more else None,
            "next_row": limit + 1,
        },
    )
