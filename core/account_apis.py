"""API for accounts and organisations' details (core/accounts.py): what used to
need the host shell once the admin became read-only."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import accounts, selectors
from core.actors import Actor
from core.api import ERRORS, actor_of
from core.apis import MembershipOutput, OrganisationOutput
from core.errors import InvalidInput, NotFound
from core.models import Role

User = get_user_model()
TAGS = ["people"]


class AccountOutput(serializers.Serializer[Any]):
    username = serializers.CharField()
    email = serializers.EmailField()
    is_active = serializers.BooleanField()


class AccountCreatedOutput(AccountOutput):
    membership = MembershipOutput()


def _account(actor: Actor, username: str) -> Any:
    """The account named ``username`` as ``actor`` may act on it: the regulator
    any, everyone else only their own (any other is 404, as if it did not exist)."""
    user = User.objects.filter(username=username).first()
    if user is None or not (actor.is_regulator or (actor.user is not None and actor.user.pk == user.pk)):
        raise NotFound("No such account.")
    return user


class AccountCreateApi(APIView):
    class AccountCreateInput(serializers.Serializer[Any]):
        username = serializers.CharField(max_length=150)
        email = serializers.CharField(max_length=254)
        organisation = serializers.UUIDField()
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(
        operation_id="accounts_create",
        tags=TAGS,
        request=AccountCreateInput,
        responses={201: AccountCreatedOutput, **ERRORS},
        description=(
            "The regulator, or a lab's admin for their lab, creates a person's account with a role. The person "
            "sets their password through a single-use link emailed to them; nobody else sees it. A lab admin's "
            "membership is an invitation the person accepts."
        ),
    )
    def post(self, request: Request) -> Response:
        s = self.AccountCreateInput(data=request.data)
        s.is_valid(raise_exception=True)
        actor = actor_of(request)
        v = s.validated_data
        org = selectors.organisation_get(actor=actor, pk=v["organisation"])
        user, membership = accounts.account_create(
            actor=actor, username=v["username"], email=v["email"], organisation=org, role=v["role"]
        )
        out = {**AccountOutput(user).data, "membership": MembershipOutput(membership).data}
        return Response(out, status=status.HTTP_201_CREATED)


class AccountPasswordResetApi(APIView):
    @extend_schema(
        operation_id="accounts_password_reset",
        tags=TAGS,
        request=None,
        responses={202: None, **ERRORS},
        description="The regulator emails the person a single-use link to set a new password.",
    )
    def post(self, request: Request, username: str) -> Response:
        actor = actor_of(request)
        accounts.account_password_reset(actor=actor, user=_account(actor, username))
        return Response(status=status.HTTP_202_ACCEPTED)


class AccountDeactivateApi(APIView):
    @extend_schema(
        operation_id="accounts_deactivate",
        tags=TAGS,
        request=None,
        responses={200: AccountOutput, **ERRORS},
        description=(
            "The regulator, or the person themselves, deactivates an account: it then authenticates nowhere "
            "(sign-in, API and gateway tokens). The last active regulator cannot be deactivated."
        ),
    )
    def post(self, request: Request, username: str) -> Response:
        actor = actor_of(request)
        return Response(AccountOutput(accounts.account_deactivate(actor=actor, user=_account(actor, username))).data)


class AccountReactivateApi(APIView):
    @extend_schema(
        operation_id="accounts_reactivate", tags=TAGS, request=None, responses={200: AccountOutput, **ERRORS}
    )
    def post(self, request: Request, username: str) -> Response:
        actor = actor_of(request)
        return Response(AccountOutput(accounts.account_reactivate(actor=actor, user=_account(actor, username))).data)


class OrganisationUpdateApi(APIView):
    class OrganisationUpdateInput(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=200, required=False)
        country = serializers.CharField(max_length=2, required=False, allow_blank=True)
        website = serializers.URLField(required=False, allow_blank=True)

    @extend_schema(
        operation_id="organisations_update",
        tags=TAGS,
        request=OrganisationUpdateInput,
        responses={200: OrganisationOutput, **ERRORS},
        description="The regulator edits an organisation's name, country or website (its kind is fixed).",
    )
    def post(self, request: Request, pk: Any) -> Response:
        s = self.OrganisationUpdateInput(data=request.data)
        s.is_valid(raise_exception=True)
        fixed = (
            sorted(set(request.data) - set(self.OrganisationUpdateInput().fields))
            if hasattr(request.data, "keys")
            else []
        )
        if fixed:
            raise InvalidInput(
                "Only name, country and website may change.", errors={k: ["Cannot be changed."] for k in fixed}
            )
        actor = actor_of(request)
        org = selectors.organisation_get(actor=actor, pk=pk)
        return Response(
            OrganisationOutput(accounts.organisation_update(actor=actor, organisation=org, **s.validated_data)).data
        )
