"""Settings, Categories: two levels, ordered, archived (admins)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from helpdesk.models import Membership
from helpdesk.permissions import role_required

from .. import services
from ..forms import add_service_errors
from ..models import Category

ADMIN = Membership.Role.ADMIN


class CategoryForm(forms.Form):
    name = forms.CharField(max_length=80)
    parent = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Under",
        empty_label="Top level",
        help_text="Categories have two levels: a top category and its sub-categories.",
    )

    def __init__(self, *args, tops=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = Category.objects.filter(parent__isnull=True)
        self.fields["parent"].choices = [("", "Top level"), *[(c.pk, c.name) for c in tops]]


def _tree() -> list[Category]:
    """Top categories by position, each with `.subs`, archived ones included (one query)."""
    rows = list(Category.objects.order_by("position", "name", "pk"))
    tops = [row for row in rows if row.parent_id is None]
    by_parent: dict[int, list[Category]] = {}
    for row in rows:
        if row.parent_id is not None:
            by_parent.setdefault(row.parent_id, []).append(row)
    for top in tops:
        top.subs = by_parent.get(top.pk, [])
    return tops


def _category_or_404(category_id: int) -> Category:
    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        raise Http404("No such category.")
    return category


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def category_list(request, tenant_slug):
    tree = _tree()
    active_tops = [top for top in tree if top.archived_at is None]
    form = CategoryForm(request.POST or None, tops=active_tops)
    if request.method == "POST" and form.is_valid():
        try:
            category = services.category_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Category “{category}” created.")
            return redirect("tickets:categories", tenant_slug)
    return render(request, "tickets/settings_categories.html", {"tree": tree, "form": form})


@require_POST
@role_required(ADMIN)
def category_change(request, tenant_slug, category_id):
    """Rename (`name`), move (`move` up/down) or archive (`archived` 1/0) a category."""
    category = _category_or_404(category_id)
    try:
        if "name" in request.POST:
            services.category_rename(
                actor=request.user, category=category, name=request.POST["name"]
            )
            messages.success(request, "Category renamed.")
        elif request.POST.get("move") in ("up", "down"):
            step = -1 if request.POST["move"] == "up" else 1
            services.category_move(actor=request.user, category=category, step=step)
        elif request.POST.get("archived") in ("0", "1"):
            archived = request.POST["archived"] == "1"
            services.category_set_archived(actor=request.user, category=category, archived=archived)
            messages.success(
                request,
                f"“{category}” archived: it leaves the lists; tickets that have it keep it."
                if archived
                else f"“{category}” is back in the lists.",
            )
        else:
            messages.error(request, "Nothing to change.")
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    return redirect("tickets:categories", tenant_slug)
