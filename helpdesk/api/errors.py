"""Every API error is JSON of one shape: {"errors": {"<field>": ["message", ...]}},
with "detail" for what belongs to no field (401, 403, 404, 405, 413, 429, ...)."""

from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from helpdesk.parsing import parse_id

from .exceptions import PayloadTooLarge

NON_FIELD_KEY = "detail"
# A message quoting what the client sent is cut to this many characters (the
# start and the end kept): a 1 MB invalid value is not sent back whole.
MESSAGE_MAX_CHARS = 200


def django_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as field -> messages."""
    if hasattr(error, "error_dict"):
        return {
            (NON_FIELD_KEY if field == NON_FIELD_ERRORS else field): messages
            for field, messages in error.message_dict.items()
        }
    return {NON_FIELD_KEY: error.messages}


def cut(message: str) -> str:
    if len(message) <= MESSAGE_MAX_CHARS:
        return message
    half = MESSAGE_MAX_CHARS // 2
    return f"{message[:half]}…{message[-half:]}"


def _messages(value, prefix: str = "") -> list[str]:
    """Every message under one field, flat: an item of a list ("Item 3: ...")
    or a field of a nested object gets its place in front of the message."""
    if isinstance(value, dict):
        return [
            message
            for key, inner in value.items()
            for message in _messages(
                inner,
                f"{prefix}Item {int(key) + 1}: "
                if parse_id(str(key)) is not None
                else f"{prefix}{key}: ",
            )
        ]
    if isinstance(value, list):
        return [message for inner in value for message in _messages(inner, prefix)]
    return [cut(f"{prefix}{value}")]


def error_body(data) -> dict:
    """DRF's error data (a string, a list, or fields that may nest) in the one shape."""
    if isinstance(data, dict):
        fields = {
            (NON_FIELD_KEY if key in (NON_FIELD_ERRORS, "non_field_errors") else str(key)): value
            for key, value in data.items()
        }
    else:
        fields = {NON_FIELD_KEY: data}
    return {"errors": {field: _messages(value) for field, value in fields.items()}}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(django_errors(exc))
    elif isinstance(exc, RequestDataTooBig):
        # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE), met before ours.
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500, logged as usual
    # A refused request writes nothing: not even what the view did before the
    # refusal (a contact made for a message that a closed ticket then refused).
    if connection.in_atomic_block:
        transaction.set_rollback(True)
    response.data = error_body(response.data)
    return response


def error_response(status_code: int, message: str | None = None) -> JsonResponse:
    message = message or f"{HTTPStatus(status_code).phrase}."
    return JsonResponse({"errors": {NON_FIELD_KEY: [message]}}, status=status_code)


# Any method may reach it, and no API request carries a CSRF token: exempt,
# or a POST to a mistyped URL would get Django's HTML "CSRF failed" page.
@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any other URL under /api/: a JSON 404, not the HTML page."""
    return error_response(404, "Not found.")


class ApiJsonErrorsMiddleware:
    """Whatever answers an error under /api/ (Django's 400 for a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE, its 500 page, a CSRF or host check), the
    client gets the API's JSON shape with the same status, never an HTML page.

    First in MIDDLEWARE, so it sees the responses of every other layer. The
    views' own errors are JSON already and pass through untouched.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not request.path_info.startswith("/api/")
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        if response.status_code == 400 and _body_too_big(request):
            replaced = error_response(413, str(PayloadTooLarge().detail))
        elif response.status_code >= 500:
            # Django has logged the exception already.
            replaced = error_response(
                response.status_code, "Something went wrong on our side; it has been logged."
            )
        else:
            replaced = error_response(response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replaced[header] = response[header]
        return replaced


def _body_too_big(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit is not None and length > limit
