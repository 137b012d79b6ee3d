"""API for gateway tokens and the access log (under /api/, with API-token or
session auth). The gateway itself, under /gateway/v1/, is gateway/proxy/server.py."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auditing.models import Audit
from core.api import ERRORS, CodeField, CreatedCursorPagination, actor_of, one_of, paginated
from core.permissions import VIEW
from gateway import selectors, services
from gateway.models import GatewayCall, GatewayToken, GrantKind

TAGS = ["gateway"]


@extend_schema_field(OpenApiTypes.UUID)
class VisibleAudit(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> Any:
        return Audit.objects.visible_to(actor_of(self.context["request"]), VIEW)


@extend_schema_serializer(component_name="GatewayToken")
class GatewayTokenOutput(serializers.Serializer[GatewayToken]):
    id = serializers.UUIDField()
    kind = serializers.CharField(help_text=one_of(GrantKind.values))
    name = serializers.CharField()
    prefix = serializers.CharField()
    holder = serializers.CharField(source="holder.username")
    organisation = serializers.UUIDField(source="organisation_id", allow_null=True)
    system_version = serializers.UUIDField(source="system_version_id")
    model = serializers.SerializerMethodField(help_text="The id to pass as `model` to the gateway.")
    audit = serializers.UUIDField(source="audit_id", allow_null=True)
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    accepted_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the holder took the token up; null while a lab's admission of someone else awaits them.",
    )
    requests_per_minute = serializers.IntegerField()
    tokens_per_day = serializers.IntegerField()
    max_output_tokens = serializers.IntegerField(help_text="The most output tokens one call may ask for")
    max_n = serializers.IntegerField(help_text="The most choices (n) one call may ask for")
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_model(self, obj: GatewayToken) -> str:
        sv = obj.system_version
        return selectors.model_id_of(lab_slug=sv.lab.slug, name=sv.name, sequence=sv.sequence)


@extend_schema_serializer(component_name="GatewayTokenIssued")
class GatewayTokenIssuedOutput(GatewayTokenOutput):
    token = serializers.CharField(
        allow_null=True,
        help_text="The secret, shown only now. Use it as the API key of an OpenAI client. Null when a lab admits "
        "someone else: the holder accepts the token (`POST /api/gateway-tokens/{id}/accept`) and gets it then.",
    )
    base_url = serializers.CharField(help_text="The gateway's OpenAI-compatible base URL.")


@extend_schema_serializer(component_name="GatewayTokenIssueInput")
class GatewayTokenIssueInput(serializers.Serializer[Any]):
    kind = CodeField(choices=GrantKind.choices)
    system_version = serializers.UUIDField()
    audit = VisibleAudit(required=False, allow_null=True, help_text="Required for auditor tokens.")
    holder = serializers.CharField(
        required=False, max_length=150, help_text="Username of the person a lab admits (lab_admitted only)."
    )
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField()
    requests_per_minute = serializers.IntegerField(required=False, min_value=1)
    tokens_per_day = serializers.IntegerField(required=False, min_value=1)
    max_output_tokens = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The most output tokens (max_tokens) one call may ask for; also what the gateway sets when a "
        "call names none. Default 8192.",
    )
    max_n = serializers.IntegerField(
        required=False, min_value=1, help_text="The most choices (n) one call may ask for. Default 8."
    )


@extend_schema_serializer(component_name="GatewayCall")
class GatewayCallOutput(serializers.Serializer[GatewayCall]):
    id = serializers.UUIDField()
    token = serializers.UUIDField(source="token_id")
    kind = serializers.CharField()
    organisation = serializers.UUIDField(source="organisation_id", allow_null=True)
    system_version = serializers.UUIDField(source="system_version_id")
    at = serializers.DateTimeField(source="created_at")
    method = serializers.CharField()
    path = serializers.CharField()
    upstream_model = serializers.CharField()
    stream = serializers.BooleanField()
    status_code = serializers.IntegerField()
    error_code = serializers.CharField()
    latency_ms = serializers.FloatField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    usage_clamped = serializers.BooleanField(help_text="The upstream's usage was implausible and was clamped")
    request_sha256 = serializers.CharField()
    response_sha256 = serializers.CharField()


def _base_url() -> str:
    return settings.STAGEGATE_BASE_URL.rstrip("/") + "/gateway/v1"


class GatewayTokenListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="gateway_token_list",
        parameters=[OpenApiParameter("system_version", OpenApiTypes.UUID, required=False)],
        responses={200: GatewayTokenOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        sv = request.query_params.get("system_version")
        qs = selectors.gateway_token_list(actor=actor_of(request), system_version_id=_uuid_or_none(sv))
        return paginated(self, qs.select_related("system_version__lab"), GatewayTokenOutput)

    @extend_schema(
        operation_id="gateway_token_issue",
        request=GatewayTokenIssueInput,
        responses={201: GatewayTokenIssuedOutput, **ERRORS},
        tags=TAGS,
        description=(
            "Issue a gateway token. Auditors and academics request their own; a lab admin admits users at "
            "stage 3, as an offer the holder accepts. The secret is in the response once, to its holder only."
        ),
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        data = GatewayTokenIssueInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        system_version = selectors.system_version_for_token(actor=actor, pk=v["system_version"])
        holder = selectors.holder_by_username(username=v["holder"]) if v.get("holder") else None
        token, secret = services.gateway_token_issue(
            actor=actor,
            kind=v["kind"],
            system_version=system_version,
            name=v["name"],
            expires_at=v["expires_at"],
            audit=v.get("audit"),
            holder=holder,
            requests_per_minute=v.get("requests_per_minute"),
            tokens_per_day=v.get("tokens_per_day"),
            max_output_tokens=v.get("max_output_tokens"),
            max_n=v.get("max_n"),
        )
        out = dict(GatewayTokenOutput(token).data)
        out.update(token=secret, base_url=_base_url())
        return Response(out, status=status.HTTP_201_CREATED)


class GatewayTokenDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="gateway_token_get", responses={200: GatewayTokenOutput, **ERRORS}, tags=TAGS)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(GatewayTokenOutput(selectors.gateway_token_get(actor=actor_of(request), pk=pk)).data)


class GatewayTokenAcceptApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="gateway_token_accept",
        request=None,
        responses={200: GatewayTokenIssuedOutput, **ERRORS},
        tags=TAGS,
        description="The holder takes up a token a lab admitted them to; the secret is in the response once.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        token, secret = services.gateway_token_accept(
            actor=actor, token=selectors.gateway_token_get(actor=actor, pk=pk)
        )
        out = dict(GatewayTokenOutput(token).data)
        out.update(token=secret, base_url=_base_url())
        return Response(out)


class GatewayTokenRevokeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="gateway_token_revoke", request=None, responses={200: GatewayTokenOutput, **ERRORS}, tags=TAGS
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        token = services.gateway_token_revoke(actor=actor, token=selectors.gateway_token_get(actor=actor, pk=pk))
        return Response(GatewayTokenOutput(token).data)


class GatewayCallListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="gateway_call_list",
        parameters=[OpenApiParameter("token", OpenApiTypes.UUID, required=False)],
        responses={200: GatewayCallOutput(many=True), **ERRORS},
        tags=TAGS,
        description="The access log: digests, usage and outcome of each call, never the content.",
    )
    def get(self, request: Request) -> Response:
        token = _uuid_or_none(request.query_params.get("token"))
        return paginated(self, selectors.gateway_call_list(actor=actor_of(request), token_id=token), GatewayCallOutput)


def _uuid_or_none(value: str | None) -> Any:
    import uuid

    from core.errors import InvalidInput

    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("Not a UUID.", errors={"filter": ["Must be a UUID."]}) from None
