"""Dispatch's pages: the routing settings (rules, tester, groups), the
agent's dispatch page (availability, Get next), the dispatcher's review
queue, and the ticket page's Escalate and Re-route buttons. Thin: parse,
call a service or selector, render."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.models import Membership, SupportGroup
from helpdesk.permissions import role_required
from tickets.selectors import ticket_get
from tickets.services import TicketConflict

from . import selectors, services
from .forms import (
    AvailabilityForm,
    CapacityForm,
    EscalateForm,
    GroupDispatchForm,
    ReviewForm,
    RuleForm,
    TesterForm,
    agents_of_tenant,
    organization_lookup,
    rule_form_choices,
)
from .models import AgentStatus, GroupDispatch, RoutingDecision, RoutingRule
from .rules import describe_condition, evaluate, rule_problems
from .simulator import simulate

ADMIN = Membership.Role.ADMIN
DISPATCHER = Membership.Role.DISPATCHER
CSRF = "csrfmiddlewaretoken"


def _rule_or_404(rule_id) -> RoutingRule:
    rule = RoutingRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


def _labels() -> dict:
    """(field, id) -> name, for showing conditions and actions in words."""
    labels = {}
    for group in SupportGroup.objects.all():
        labels[("group", str(group.pk))] = group.name
    _, organizations = organization_lookup()
    for pk, name in organizations.items():
        labels[("organization", pk)] = name
    return labels


@require_GET
@role_required(ADMIN)
def rule_list(request, tenant_slug):
    """The tenant's routing rules in order, with their match counts."""
    rules = list(RoutingRule.objects.order_by("position", "pk"))
    labels = _labels()
    for rule in rules:
        rule.described = [describe_condition(c, labels) for c in rule.conditions]
        rule.described_actions = _describe_actions(rule.actions, labels)
    groups = list(SupportGroup.objects.all())
    configs = {c.group_id: c for c in GroupDispatch.objects.select_related("escalation_group")}
    for group in groups:
        group.dispatch = configs.get(group.pk)
    return render(request, "dispatch/rules.html", {"rules": rules, "groups": groups})


def _describe_actions(actions: dict, labels: dict) -> list[str]:
    words = []
    for key, value in actions.items():
        if key == "group":
            words.append(f"Group: {labels.get(('group', str(value)), value)}")
        elif key == "add_tags":
            words.append(f"Add tags: {', '.join(value)}")
        elif key == "review":
            words.append("Send to dispatcher review")
        elif key == "priority":
            words.append(f"Priority: {dict(PRIORITIES).get(int(value), value)}")
        else:
            words.append(f"{key.capitalize()}: {value}")
    return words


PRIORITIES = [(4, "Urgent"), (3, "High"), (2, "Normal"), (1, "Low")]


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def rule_edit(request, tenant_slug, rule_id=None):
    """Add a rule, or change one."""
    rule = _rule_or_404(rule_id) if rule_id is not None else None
    by_name, by_id = organization_lookup()
    choices = rule_form_choices()
    initial = RuleForm.initial_from(rule, by_id) if rule else None
    form = RuleForm(request.POST or None, initial=initial, organizations=by_name, **choices)
    simulation = None
    if request.method == "POST":
        unknown = sorted(set(request.POST) - set(form.fields) - {CSRF, "simulate"})
        if unknown:
            form.add_error(None, f"Unknown fields: {', '.join(u[:40] for u in unknown[:5])}.")
        elif "simulate" in request.POST and form.is_valid():
            simulation = _simulate_draft(form, rule)
        elif form.is_valid():
            conditions, actions = form.rule_parts()
            try:
                saved = services.rule_save(
                    actor=request.user, rule=rule, name=form.cleaned_data["name"],
                    match=form.cleaned_data["match"], conditions=conditions, actions=actions,
                    stop=form.cleaned_data["stop"], is_enabled=form.cleaned_data["is_enabled"],
                )  # fmt: skip
            except ValidationError as error:
                for text in error.messages:
                    form.add_error(None, text)
            else:
                messages.success(request, f"Saved the rule “{saved.name}”.")
                return redirect("dispatch:rules", tenant_slug)
    return render(
        request,
        "dispatch/rule_edit.html",
        {"form": form, "rule": rule, "simulation": simulation},
    )


def _simulate_draft(form, rule):
    """The rule set with this rule as drafted, replayed (nothing is saved)."""
    conditions, actions = form.rule_parts()
    problems = rule_problems(
        match=form.cleaned_data["match"], conditions=conditions, actions=actions,
        known=services.known_values(),
    )  # fmt: skip
    if problems:
        for text in problems:
            form.add_error(None, text)
        return None
    draft = RoutingRule(
        pk=rule.pk if rule else None, name=form.cleaned_data["name"] or "This rule",
        match=form.cleaned_data["match"], conditions=conditions, actions=actions,
        stop=form.cleaned_data["stop"], is_enabled=True,
    )  # fmt: skip
    rules = [
        draft if rule and r.pk == rule.pk else r
        for r in RoutingRule.objects.order_by("position", "pk")
    ]  # noqa: E501
    if rule is None:
        rules.append(draft)
    result = simulate(rules=rules, days=form.cleaned_data.get("simulate_days") or 30)
    names = {g.pk: g.name for g in SupportGroup.objects.all()}
    agents = {u.pk: u.get_full_name() or u.username for u in agents_of_tenant()}
    result.group_rows = sorted(
        (
            (names.get(gid, "No group") if gid else "No group", result.would_group.get(gid, 0),
             result.actual_group.get(gid, 0))
            for gid in set(result.would_group) | set(result.actual_group)
        ),
        key=lambda row: -row[1],
    )  # fmt: skip
    result.rule_rows = result.rule_matches.most_common()
    result.agent_rows = [(agents.get(uid, uid), n) for uid, n in result.would_agent.most_common()]
    return result


@require_POST
@role_required(ADMIN)
def rule_move(request, tenant_slug, rule_id):
    services.rule_move(
        actor=request.user, rule=_rule_or_404(rule_id), direction=request.POST.get("direction", "")
    )
    return redirect("dispatch:rules", tenant_slug)


@require_POST
@role_required(ADMIN)
def rule_toggle(request, tenant_slug, rule_id):
    rule = _rule_or_404(rule_id)
    services.rule_set_enabled(actor=request.user, rule=rule, enabled=not rule.is_enabled)
    state = "disabled" if rule.is_enabled else "enabled"
    messages.success(request, f"The rule “{rule.name}” is {state}.")
    return redirect("dispatch:rules", tenant_slug)


@require_POST
@role_required(ADMIN)
def rule_delete(request, tenant_slug, rule_id):
    rule = _rule_or_404(rule_id)
    services.rule_delete(actor=request.user, rule=rule)
    messages.success(request, f"Deleted the rule “{rule.name}”.")
    return redirect("dispatch:rules", tenant_slug)


@require_GET
@role_required(ADMIN)
def rule_tester(request, tenant_slug):
    """Which rules a ticket (or a pasted subject and message) matches, step by step."""
    form = TesterForm(request.GET or None)
    evaluation = ticket = None
    if request.GET and form.is_valid():
        number = form.cleaned_data.get("ticket")
        if number:
            ticket = ticket_get(number=number)
            facts = selectors.ticket_facts(ticket)
        else:
            facts = selectors.facts_from_text(
                form.cleaned_data["subject"], form.cleaned_data["body"]
            )
        rules = list(RoutingRule.objects.order_by("position", "pk"))
        hours = selectors.business_hours(selectors.dispatch_settings())
        labels = _labels()
        evaluation = evaluate(rules, facts, hours, labels)
        for step in evaluation.steps:
            step.described_actions = _describe_actions(step.actions, labels)
        evaluation.described = _describe_actions(evaluation.actions, labels)
    return render(
        request,
        "dispatch/tester.html",
        {"form": form, "evaluation": evaluation, "tested_ticket": ticket},
    )


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def group_edit(request, tenant_slug, group_id):
    """A group's mode, strategy, leader, overflow and next tier."""
    group = SupportGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise Http404("No such group.")
    cfg = GroupDispatch.objects.filter(group=group).first()
    initial = {key: getattr(cfg, f"{key}_id", None) or getattr(cfg, key, None) for key in
               GroupDispatchForm.FIELDS} if cfg else None  # fmt: skip
    groups = [g for g in SupportGroup.objects.all() if g.pk != group.pk]
    agents = agents_of_tenant()
    form = GroupDispatchForm(request.POST or None, initial=initial, groups=groups, agents=agents)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        by_id = {g.pk: g for g in groups}
        users = {u.pk: u for u in agents}
        values = {
            "mode": data["mode"],
            "strategy": data["strategy"],
            "leader": users.get(data["leader"]),
            "overflow_group": by_id.get(data["overflow_group"]),
            "overflow_after_minutes": data["overflow_after_minutes"] or 0,
            "skill_fallback_minutes": data["skill_fallback_minutes"],
            "escalation_group": by_id.get(data["escalation_group"]),
            "escalate_on_breach": data["escalate_on_breach"],
            "accept_minutes": data["accept_minutes"],
        }
        try:
            services.group_dispatch_save(actor=request.user, group=group, **values)
        except ValidationError as error:
            for text in error.messages:
                form.add_error(None, text)
        else:
            messages.success(request, f"Saved how {group.name} is dispatched.")
            return redirect("dispatch:rules", tenant_slug)
    return render(request, "dispatch/group_edit.html", {"form": form, "group": group})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def agent_list(request, tenant_slug):
    """Each agent's capacity, skills, availability and load; admins set
    capacity and skills ("language:de=3, product:billing=2")."""
    agents = agents_of_tenant()
    if request.method == "POST":
        form = CapacityForm(request.POST)
        user = next((u for u in agents if str(u.pk) == request.POST.get("user")), None)
        if user is None:
            messages.error(request, "Choose an agent of this help desk.")
        elif not form.is_valid():
            messages.error(request, "Capacity is a whole number from 0 to 500.")
        else:
            try:
                services.agent_capacity_set(
                    actor=request.user, user=user, capacity=form.cleaned_data["capacity"],
                    skills=form.cleaned_data["skills"],
                )  # fmt: skip
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, f"Saved {user.get_full_name() or user.username}.")
                return redirect("dispatch:agents", tenant_slug)
    statuses = {s.user_id: s for s in AgentStatus.objects.all()}
    loads = selectors.agent_loads([u.pk for u in agents], selectors.dispatch_settings())
    default = AgentStatus._meta.get_field("capacity").default
    rows = [
        {
            "user": user,
            "status": statuses.get(user.pk),
            "capacity": statuses[user.pk].capacity if user.pk in statuses else default,
            "skills": ", ".join(
                f"{k}={v}"
                for k, v in sorted(
                    (statuses[user.pk].skills if user.pk in statuses else {}).items()
                )
            ),
            "load": loads.get(user.pk, 0),
        }
        for user in agents
    ]
    return render(request, "dispatch/agents.html", {"rows": rows})


@require_GET
def dispatch_home(request, tenant_slug):
    """The agent's dispatch page: availability, load, Get next."""
    status = AgentStatus.objects.filter(user=request.user).first()
    config = selectors.dispatch_settings()
    load = selectors.agent_loads([request.user.pk], config).get(request.user.pk, 0)
    is_dispatcher = request.membership.has_role(DISPATCHER)
    return render(
        request,
        "dispatch/home.html",
        {
            "status": status,
            "availability": status.availability if status else AgentStatus.Availability.OFFLINE,
            "capacity": status.capacity
            if status
            else AgentStatus._meta.get_field("capacity").default,
            "load": load,
            "choices": AgentStatus.Availability.choices,
            "is_dispatcher": is_dispatcher,
            "team": selectors.team_presence() if is_dispatcher else None,
            "to_accept": selectors.acceptances_owed(request.user),
            "leads": GroupDispatch.objects.filter(
                leader=request.user, mode=GroupDispatch.Mode.CLAIM
            ).exists(),
        },
    )


@require_POST
def availability_set(request, tenant_slug):
    form = AvailabilityForm(request.POST)
    if form.is_valid():
        services.availability_set(user=request.user, availability=form.cleaned_data["availability"])
        label = AgentStatus.Availability(form.cleaned_data["availability"]).label
        text = f"You are {label.lower()}."
    else:
        text = "Choose online, away or offline."
    if request.htmx:
        # The top bar's switch: its new state, and the words read out.
        status = AgentStatus.objects.filter(user=request.user).first()
        response = render(
            request,
            "dispatch/availability_widget.html",
            {
                "availability": status.availability if status else "offline",
                "choices": AgentStatus.Availability.choices,
            },
        )
        response["HX-Trigger"] = json.dumps({"announce": text})
        return response
    (messages.success if form.is_valid() else messages.error)(request, text)
    return redirect("dispatch:home", tenant_slug)


@require_POST
def get_next(request, tenant_slug):
    """Take the most urgent unassigned ticket of the agent's groups."""
    ticket = services.ticket_get_next(agent=request.user)
    if ticket is None:
        messages.info(request, "Nothing is waiting in your groups.")
        return redirect("dispatch:home", tenant_slug)
    messages.success(request, f"{ticket.reference} is yours.")
    return redirect("tickets:detail", tenant_slug, ticket.number)


@require_GET
@role_required(DISPATCHER)
def review_queue(request, tenant_slug):
    """Recommendations waiting for a dispatcher, most urgent first, with
    every member's load, skills and availability to choose another."""
    pending = list(services.reviews_pending()[:50])
    group_ids = {d.group_id for d in pending if d.group_id}
    members = selectors.members_by_group(group_ids)
    user_ids = {uid for ids in members.values() for uid in ids}
    statuses = {s.user_id: s for s in AgentStatus.objects.filter(user_id__in=user_ids)}
    config = selectors.dispatch_settings()
    loads = selectors.agent_loads(user_ids, config)
    users = {m.user_id: m.user for m in selectors.memberships_of(user_ids)}
    for decision in pending:
        decision.options = [
            {
                "user": users[uid],
                "load": loads.get(uid, 0),
                "capacity": statuses[uid].capacity if uid in statuses else 10,
                "availability": statuses[uid].get_availability_display()
                if uid in statuses
                else "Offline",
                "skills": statuses[uid].skills if uid in statuses else {},
            }
            for uid in members.get(decision.group_id, [])
            if uid in users
        ]
    context = {"pending": pending, "refresh_seconds": settings.QUEUE_REFRESH_SECONDS}
    if request.htmx:
        return render(request, "dispatch/review.html#review-rows", context)
    return render(request, "dispatch/review.html", context)


@require_POST
@role_required(DISPATCHER)
def review_assign(request, tenant_slug, decision_id):
    """Confirm a recommendation, or give the ticket to another member."""
    decision = RoutingDecision.objects.filter(pk=decision_id).first()
    if decision is None:
        raise Http404("No such recommendation.")
    form = ReviewForm(request.POST)
    assignee = None
    if form.is_valid():
        membership = (
            Membership.objects.filter(tenant=request.tenant, user_id=form.cleaned_data["assignee"])
            .select_related("user")
            .first()
        )
        assignee = membership.user if membership else None
    if assignee is None:
        messages.error(request, "Choose an agent of this help desk.")
        return redirect("dispatch:review", tenant_slug)
    try:
        ticket, note = services.recommendation_review(
            decision=decision, actor=request.user, assignee=assignee
        )
    except (ValidationError, TicketConflict) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        name = assignee.get_full_name() or assignee.username
        messages.success(request, f"{ticket.reference} went to {name}. {note}".strip())
    return redirect("dispatch:review", tenant_slug)


@require_GET
def why_this_agent(request, tenant_slug, number):
    """The ticket page's "Why this agent" panel: the latest routing decision
    and the Escalate form when the group names a next tier."""
    ticket = ticket_get(number=number)
    decision = selectors.latest_decision(ticket)
    next_tier = None
    if decision is not None and decision.next_tier_id and ticket.is_open:
        next_tier = {"pk": decision.next_tier_id, "name": decision.next_tier_name}
    template = (
        "dispatch/panels/why_this_agent.html#why-body" if request.htmx else "dispatch/why.html"
    )
    context = {
        "ticket": ticket,
        "decision": decision,
        "next_tier": next_tier,
        "acceptance": selectors.waiting_acceptance(ticket),
    }
    return render(request, template, context)


@require_POST
def escalate(request, tenant_slug, number):
    """Send a ticket to its group's next tier, with a handover note."""
    ticket = ticket_get(number=number)
    form = EscalateForm(request.POST)
    reason = form.data.get("reason", "")
    try:
        services.ticket_escalate(ticket=ticket, actor=request.user, reason=reason)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{ticket.reference} went to the next tier.")
    return redirect("tickets:detail", tenant_slug, number)


@require_POST
@role_required(DISPATCHER)
def reroute(request, tenant_slug, number):
    """Run the rules and the group's strategy on a ticket again."""
    ticket = ticket_get(number=number)
    decision = services.ticket_route(ticket=ticket, trigger=RoutingDecision.Trigger.REROUTE)
    if decision is None:
        messages.error(request, "Only open tickets are routed.")
    else:
        messages.success(request, f"Routed again: {decision.explanation}")
    return redirect("tickets:detail", tenant_slug, number)
