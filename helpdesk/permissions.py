from functools import wraps

from django.core.exceptions import PermissionDenied


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
