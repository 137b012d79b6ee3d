"""API plumbing shared by every app: one error shape (RFC 9457 problem details
with a stable ``code``), cursor pagination and the actor of a request."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import Actor, actor_for
from core.errors import ApplicationError, InvalidInput

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    429: "Too many requests",
}


def problem(status_code: int, code: str, detail: str, errors: dict[str, Any] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:stagegate:problem:{code}",
        "title": _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _flatten_errors(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field.sub": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = "non_field_errors" if key in ("non_field_errors", "__all__") and not prefix else str(key)
            out.update(_flatten_errors(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(data, list) and data and all(isinstance(v, (str, exceptions.ErrorDetail)) for v in data):
        out[prefix or "non_field_errors"] = [str(v) for v in data]
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if value:
                out.update(_flatten_errors(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "non_field_errors"] = [str(data)]
    return out


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return problem(exc.status, exc.code, exc.detail, exc.errors or None, **exc.extra)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return problem(400, "invalid", "The request is not valid.", {k: list(v) for k, v in errors.items()})
    if isinstance(exc, Http404):
        return problem(404, "not_found", "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return problem(403, "forbidden", "You may not do this.")
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten_errors(exc.detail)
        fields = ", ".join(sorted(errors))
        return problem(400, "invalid", f"Invalid input: {fields}.", errors)
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response = problem(exc.status_code, str(code), str(exc.detail))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            response.status_code = status.HTTP_401_UNAUTHORIZED
            response["WWW-Authenticate"] = 'Bearer realm="stagegate"'
        return response
    return None  # a real bug: let Django log it and answer 500


def invalid_cursor(reason: str) -> InvalidInput:
    return InvalidInput(
        "This cursor was not written by this list: start again from the first page.",
        code="invalid_cursor",
        errors={"cursor": [reason]},
    )


class CreatedCursorPagination(CursorPagination):
    """A cursor comes back from the client, so it is checked like any input:
    DRF answers a cursor it cannot decode with a 404, and filters by whatever
    position a decodable one carries, so text where the list is ordered by an
    integer id was a 500. Here both are a 400 ``invalid_cursor``, and the
    position must convert to the ordering field's type and range (and, for a
    timestamp, carry its time zone, as every cursor written here does)."""

    ordering: str | tuple[str, ...] = "-created_at"
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any] | None:
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view=view)

    def decode_cursor(self, request: Any) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise invalid_cursor("Not a cursor.") from None
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: Any) -> None:
        position = str(position)
        model = getattr(self, "_model", None)
        if model is None:  # decode_cursor called outside paginate_queryset
            return
        name = self.ordering[0].lstrip("-")
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        if "\x00" in position:
            raise invalid_cursor("The position holds a NUL character.")
        try:
            value = field.to_python(position)
            field.run_validators(value)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise invalid_cursor(f"The position is not a valid {field.name}.") from None
        if isinstance(value, datetime.datetime) and timezone.is_naive(value):
            raise invalid_cursor(f"The position is not a valid {field.name}: it has no time zone.")


class IdCursorPagination(CreatedCursorPagination):
    ordering = "-id"


def actor_of(request: Request) -> Actor:
    return actor_for(request.user)


def paginated(view: Any, queryset: Any, serializer_class: type[serializers.BaseSerializer[Any]]) -> Response:
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context={"request": view.request}).data)


ProblemSerializer = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False),
    },
)

PROBLEM = OpenApiResponse(ProblemSerializer, description="Problem details (RFC 9457)")
ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM}


def one_of(values: list[str]) -> str:
    return f"One of: {', '.join(values)}."


class RegulatorWrites(BasePermission):
    """Writes to a collection only the regulator adds to are refused before the
    body is read, so a non-regulator learns nothing from validation (which
    system versions exist, say). The service checks again.

    A permission class answers a question: it returns False and DRF raises the
    403 (with ``message`` and ``code`` below, as problem details). Raising here
    instead broke every caller that asks without meaning to refuse: the
    browsable API asks whether to draw the POST form, catches only DRF's
    ``APIException``, and so answered 500 to every non-regulator."""

    message = "Only the regulator may do this."
    code = "regulator_only"

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or actor_of(request).is_regulator


@extend_schema_field(OpenApiTypes.STR)
class CodeField(serializers.ChoiceField):
    """A choice documented as a plain string with its values in the description:
    the same vocabularies (kinds, statuses, risk areas) recur across apps, and
    drf-spectacular would otherwise emit colliding enum components."""

    def __init__(self, choices: Any, **kwargs: Any) -> None:
        values = [str(c[0]) if isinstance(c, tuple | list) else str(c) for c in choices]
        kwargs.setdefault("help_text", one_of(values))
        super().__init__(choices, **kwargs)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error, as RFC 9457 problem details with a stable `code`.",
    "properties": {
        "type": {"type": "string", "example": "urn:stagegate:problem:not_found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable and machine-readable: what went wrong."},
        "errors": {
            "type": "object",
            "description": "For invalid input: the messages by field (`field.sub` for nested ones).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
    "additionalProperties": True,
}


def document_problems(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation may answer a 4xx
    with a problem document (authentication, permission, validation, a missing
    object, a conflict, throttling), so the schema says so, as ``4XX`` with
    ``application/problem+json``, beside whatever 4xx the view documents itself."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem_media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    problem_response: dict[str, Any] = {
        "description": "A problem: the request was refused (see `code`).",
        "content": {PROBLEM_CONTENT_TYPE: problem_media},
    }
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "put", "patch", "post", "delete", "head", "options", "trace"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("4XX", problem_response)
            for code, response in responses.items():
                # A 4xx the view documents is a problem document too.
                if str(code).startswith("4") and code != "4XX" and "content" in response:
                    response["content"].setdefault(PROBLEM_CONTENT_TYPE, problem_media)
    return result


def _under_api(request: Any) -> bool:
    # Not /gateway/: its callers are OpenAI clients, and it answers in their error format.
    return str(request.path).startswith("/api/")


def not_found(request: Any, exception: Exception | None = None) -> Any:
    """handler404: under /api/ (an unknown route, or an id the route's pattern
    refuses) a problem document like every other API error; elsewhere Django's page."""
    if _under_api(request):
        from django.http import JsonResponse

        body = {"type": "urn:stagegate:problem:not_found", "title": "Not found", "status": 404}
        body |= {"detail": "No such resource.", "code": "not_found"}
        return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request: Any) -> Any:
    """handler500: under /api/ a problem document (nothing of the failure in it:
    the log has that); elsewhere Django's page."""
    if _under_api(request):
        from django.http import JsonResponse

        body = {"type": "urn:stagegate:problem:server_error", "title": "Error", "status": 500}
        body |= {"detail": "The server failed; the failure is logged.", "code": "server_error"}
        return JsonResponse(body, status=500, content_type=PROBLEM_CONTENT_TYPE)
    from django.views.defaults import server_error as page

    return page(request)
