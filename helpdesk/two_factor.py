"""Optional TOTP two-factor sign-in (django-otp), which a tenant's admin can
require for everyone who works in it.

- A user with a confirmed authenticator is asked for a code right after the
  password (`TwoFactorMiddleware`, on every page until it is given).
- A tenant with `require_two_factor` sends a member who has not given a
  code in this session to set up an authenticator first
  (`helpdesk.middleware.TenantMiddleware` calls `tenant_requires_enrolment`).

Whether a code is still owed is kept in the session at sign-in, so pages
of users without an authenticator cost no query for it.
"""

from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

PENDING = "two_factor_pending"
DEVICE_NAME = "Authenticator app"


def code_owed_at_sign_in(sender, request, user, **kwargs) -> None:
    """Receiver of user_logged_in: a user with an authenticator owes a code."""
    if request is None or not hasattr(request, "session"):
        return
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        request.session[PENDING] = True


def _is_verified(request) -> bool:
    check = getattr(request.user, "is_verified", None)
    return bool(check and check())


def _exempt(path: str) -> bool:
    return path.startswith(("/accounts/two-factor/", "/accounts/logout/", "/static/"))


class TwoFactorMiddleware:
    """After the password, a user with an authenticator gives a code before
    any other page (after django_otp's OTPMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if (
            session is not None
            and session.get(PENDING)
            and request.user.is_authenticated
            and not _is_verified(request)
            and not _exempt(request.path)
        ):
            return redirect(f"{reverse('two_factor_verify')}?next={request.get_full_path()}")
        return self.get_response(request)


def tenant_requires_enrolment(request, tenant):
    """The redirect to set up an authenticator when `tenant` requires one and
    the member has given no code in this session; else None."""
    if not tenant.require_two_factor or _is_verified(request):
        return None
    messages.info(request, f"{tenant.name} asks everyone to sign in with a code from an app.")
    return redirect(f"{reverse('two_factor_setup')}?next={request.get_full_path()}")


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return reverse("home")
    return target


@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Add an authenticator app: show its key, confirm it with a first code."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name=DEVICE_NAME, confirmed=False)
    error = None
    if request.method == "POST":
        code = "".join(request.POST.get("code", "").split())
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            error = "Too many wrong codes just now: wait a few seconds, then try the next code."
        elif code.isdigit() and device.verify_token(code):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            request.session.pop(PENDING, None)
            messages.success(request, "Two-factor sign-in is on. You will be asked for a code.")
            return redirect(_next(request))
        else:
            error = "That code does not match. Check the time on your phone and try the next code."
    key = base64.b32encode(bytes.fromhex(device.key)).decode()
    return render(
        request,
        "helpdesk/accounts/two_factor_setup.html",
        {
            "key": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
            "config_url": device.config_url,
            "error": error,
            "next": _next(request),
        },
    )


@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    """The code from the authenticator, after the password."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    error = None
    if request.method == "POST":
        code = "".join(request.POST.get("code", "").split())
        device = match_token(request.user, code) if code.isdigit() else None
        if device is not None:
            otp_login(request, device)
            request.session.pop(PENDING, None)
            return redirect(_next(request))
        error = "That code does not match. Try the next one your app shows."
    return render(
        request,
        "helpdesk/accounts/two_factor_verify.html",
        {"error": error, "next": _next(request)},
    )
