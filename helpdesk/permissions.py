from functools import wraps

from django.core.exceptions import PermissionDenied

from .models import Membership
from .tenancy import current_tenant


def require_role(user, minimum: str, refusal: str) -> None:
    """Raise PermissionDenied(refusal) unless `user` has at least the role
    `minimum` in the current tenant. Services call this; views have
    role_required."""
    membership = Membership.objects.filter(
        tenant=current_tenant(), user=user, is_active=True
    ).first()
    if membership is None or not membership.has_role(minimum):
        raise PermissionDenied(refusal)


def role_required(minimum: str):
    """Allow members whose role is at least `minimum`; others get 403.

    Non-members never get here: the tenant middleware already answered 404.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.membership.has_role(minimum):
                raise PermissionDenied(f"This page is for {minimum}s.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
