"""API for the acting user, organisations, memberships, API tokens and the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import selectors, services
from core.api import ERRORS, CreatedCursorPagination, IdCursorPagination, actor_of, paginated
from core.errors import InvalidInput
from core.models import AuditEvent, Membership, Organisation, OrganisationKind, Role

User = get_user_model()


class OrganisationOutput(serializers.ModelSerializer[Organisation]):
    class Meta:
        model = Organisation
        fields = ["id", "kind", "name", "slug", "country", "website", "created_at"]


class MembershipOutput(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username")
    organisation_name = serializers.CharField(source="organisation.name")
    organisation_kind = serializers.CharField(source="organisation.kind")

    class Meta:
        model = Membership
        fields = [
            "id",
            "username",
            "organisation",
            "organisation_name",
            "organisation_kind",
            "role",
            "created_at",
            "accepted_at",
            "ended_at",
        ]


class MeOutput(serializers.Serializer[Any]):
    username = serializers.CharField()
    email = serializers.EmailField()
    is_regulator = serializers.BooleanField()
    memberships = MembershipOutput(many=True)


class MeApi(APIView):
    @extend_schema(operation_id="me", tags=["people"], responses={200: MeOutput, **ERRORS})
    def get(self, request: Request) -> Response:
        actor = actor_of(request)
        memberships = selectors.membership_list(actor=actor).filter(user=actor.user, ended_at__isnull=True)
        data = {
            "username": actor.user.get_username(),
            "email": actor.user.email,
            "is_regulator": actor.is_regulator,
            "memberships": memberships,
        }
        return Response(MeOutput(data).data)


class OrganisationListApi(APIView):
    pagination_class = CreatedCursorPagination

    class OrganisationCreateInput(serializers.Serializer[Any]):
        kind = serializers.ChoiceField(choices=OrganisationKind.choices)
        name = serializers.CharField(max_length=200)
        slug = serializers.SlugField(max_length=80)
        country = serializers.CharField(max_length=2, required=False, allow_blank=True, default="")
        website = serializers.URLField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="organisations_list",
        tags=["people"],
        parameters=[OpenApiParameter("kind", str, enum=[k.value for k in OrganisationKind])],
        responses={200: OrganisationOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        qs = selectors.organisation_list(actor=actor_of(request), kind=request.query_params.get("kind"))
        return paginated(self, qs, OrganisationOutput)

    @extend_schema(
        operation_id="organisations_create",
        tags=["people"],
        request=OrganisationCreateInput,
        responses={201: OrganisationOutput, **ERRORS},
        description="The regulator registers an organisation.",
    )
    def post(self, request: Request) -> Response:
        s = self.OrganisationCreateInput(data=request.data)
        s.is_valid(raise_exception=True)
        org = services.organisation_create(actor=actor_of(request), **s.validated_data)
        return Response(OrganisationOutput(org).data, status=status.HTTP_201_CREATED)


class OrganisationDetailApi(APIView):
    @extend_schema(
        operation_id="organisations_retrieve", tags=["people"], responses={200: OrganisationOutput, **ERRORS}
    )
    def get(self, request: Request, pk: Any) -> Response:
        return Response(OrganisationOutput(selectors.organisation_get(actor=actor_of(request), pk=pk)).data)


class MembershipListApi(APIView):
    pagination_class = CreatedCursorPagination

    class MembershipCreateInput(serializers.Serializer[Any]):
        organisation = serializers.UUIDField()
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(
        operation_id="memberships_list",
        tags=["people"],
        parameters=[OpenApiParameter("organisation", str, description="Organisation id")],
        responses={200: MembershipOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        org = request.query_params.get("organisation")
        if org is not None:
            org = str(serializers.UUIDField().run_validation(org))
        qs = selectors.membership_list(actor=actor_of(request), organisation_id=org)
        return paginated(self, qs, MembershipOutput)

    @extend_schema(
        operation_id="memberships_create",
        tags=["people"],
        request=MembershipCreateInput,
        responses={201: MembershipOutput, **ERRORS},
        description=(
            "The regulator adds anyone to any organisation; a lab admin invites people to their lab, and the "
            "membership confers its role once the person accepts it (accepted_at empty until then)."
        ),
    )
    def post(self, request: Request) -> Response:
        s = self.MembershipCreateInput(data=request.data)
        s.is_valid(raise_exception=True)
        actor = actor_of(request)
        org = selectors.organisation_get(actor=actor, pk=s.validated_data["organisation"])
        user = User.objects.filter(username=s.validated_data["username"]).first()
        if user is None:
            raise InvalidInput("No such user.", errors={"username": ["No user with this username."]})
        membership = services.membership_create(actor=actor, organisation=org, user=user, role=s.validated_data["role"])
        return Response(MembershipOutput(membership).data, status=status.HTTP_201_CREATED)


class MembershipAcceptApi(APIView):
    @extend_schema(
        operation_id="memberships_accept",
        tags=["people"],
        request=None,
        responses={200: MembershipOutput, **ERRORS},
        description="The invited person accepts a membership a lab admin offered.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        membership = selectors.membership_get(actor=actor, pk=pk)
        return Response(MembershipOutput(services.membership_accept(actor=actor, membership=membership)).data)


class MembershipEndApi(APIView):
    @extend_schema(
        operation_id="memberships_end", tags=["people"], request=None, responses={200: MembershipOutput, **ERRORS}
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        membership = selectors.membership_get(actor=actor, pk=pk)
        return Response(MembershipOutput(services.membership_end(actor=actor, membership=membership)).data)


class ApiTokenOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class ApiTokenCreatedOutput(ApiTokenOutput):
    token = serializers.CharField(help_text="Shown once; only its SHA-256 is stored.")


class ApiTokenListApi(APIView):
    pagination_class = CreatedCursorPagination

    class ApiTokenCreateInput(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=100)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(operation_id="tokens_list", tags=["people"], responses={200: ApiTokenOutput(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return paginated(self, selectors.api_token_list(actor=actor_of(request)), ApiTokenOutput)

    @extend_schema(
        operation_id="tokens_create",
        tags=["people"],
        request=ApiTokenCreateInput,
        responses={201: ApiTokenCreatedOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        s = self.ApiTokenCreateInput(data=request.data)
        s.is_valid(raise_exception=True)
        token, secret = services.api_token_create(actor=actor_of(request), **s.validated_data)
        data = dict(ApiTokenOutput(token).data, token=secret)
        return Response(data, status=status.HTTP_201_CREATED)


class ApiTokenRevokeApi(APIView):
    @extend_schema(
        operation_id="tokens_revoke", tags=["people"], request=None, responses={200: ApiTokenOutput, **ERRORS}
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        token = selectors.api_token_get(actor=actor, pk=pk)
        return Response(ApiTokenOutput(services.api_token_revoke(actor=actor, token=token)).data)


class AuditEventOutput(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = ["id", "occurred_at", "actor_label", "action", "target_type", "target_id", "before", "after"]


class AuditEventListApi(APIView):
    pagination_class = IdCursorPagination

    @extend_schema(
        operation_id="audit_events_list",
        tags=["audit trail"],
        parameters=[
            OpenApiParameter("target_type", str, description="e.g. labs.systemversion"),
            OpenApiParameter("target_id", str),
            OpenApiParameter("action", str, description="e.g. system_version.revise"),
        ],
        responses={200: AuditEventOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        p = request.query_params
        qs = selectors.audit_event_list(
            actor=actor_of(request),
            target_type=p.get("target_type"),
            target_id=p.get("target_id"),
            action=p.get("action"),
        )
        return paginated(self, qs, AuditEventOutput)
