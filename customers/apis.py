"""API for KYC records and enrolments. One view per URL; each method parses,
calls one service or selector and serialises."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, CreatedCursorPagination, actor_of, one_of, paginated
from customers import selectors, services
from customers.models import (
    BeneficialOwner,
    Enrolment,
    EnrolmentConsent,
    EnrolmentStatus,
    KycRecord,
    KycReview,
    KycStatus,
)
from labs.selectors import model_id_of
from standards.models import Stage

TAGS = ["customers"]


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


# Outputs


@extend_schema_serializer(component_name="BeneficialOwner")
class OwnerOutput(serializers.Serializer[BeneficialOwner]):
    full_name = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2")
    ownership_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    controls = serializers.BooleanField()


@extend_schema_serializer(component_name="KycReview")
class ReviewOutput(serializers.Serializer[KycReview]):
    id = serializers.UUIDField()
    outcome = serializers.CharField()
    reviewer = serializers.SerializerMethodField(help_text="Null when the service recorded a re-review falling due.")
    at = serializers.DateTimeField(source="created_at")
    note = serializers.CharField()
    submission_digest = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_reviewer(self, obj: KycReview) -> str | None:
        return _username(obj.reviewer)


@extend_schema_serializer(component_name="KycSummary")
class KycSummaryOutput(serializers.Serializer[KycRecord]):
    """What a lab sees of a customer enrolled in its release."""

    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    status = serializers.CharField(help_text=one_of(KycStatus.values))
    verified_now = serializers.SerializerMethodField(help_text="Verified and not past its re-review date.")
    verified_at = serializers.DateTimeField(allow_null=True)
    next_review_due = serializers.DateTimeField(allow_null=True)
    stated_purpose = serializers.CharField()

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_verified_now(self, obj: KycRecord) -> bool:
        return obj.is_verified_at()


@extend_schema_serializer(component_name="KycRecord")
class KycRecordOutput(KycSummaryOutput):
    """What the customer's members and the regulator see."""

    legal_name = serializers.CharField()
    registration_number = serializers.CharField()
    jurisdiction = serializers.CharField()
    registered_address = serializers.CharField()
    beneficial_owners = OwnerOutput(many=True, source="current_owners")
    submission_digest = serializers.CharField()
    submitted_by = serializers.CharField(source="submitted_by.username")
    submitted_at = serializers.DateTimeField()
    verified_by = serializers.SerializerMethodField()
    verification_note = serializers.CharField()
    rejection_reason = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)
    reviews = ReviewOutput(many=True, source="reviews.all")

    @extend_schema_field(OpenApiTypes.STR)
    def get_verified_by(self, obj: KycRecord) -> str | None:
        return _username(obj.verified_by)


KYC_VIEW = PolymorphicProxySerializer(
    component_name="KycRecordOrSummary",
    serializers=[KycRecordOutput, KycSummaryOutput],
    resource_type_field_name=None,
)


def _kyc_out(request: Request, record: KycRecord) -> dict[str, Any]:
    actor = actor_of(request)
    if not hasattr(record, "current_owners"):
        record = selectors.kyc_record_get(actor=actor, organisation=record.organisation)
    full = selectors.kyc_full_view(actor=actor, record=record)
    return dict((KycRecordOutput if full else KycSummaryOutput)(record).data)


@extend_schema_serializer(component_name="Enrolment")
class EnrolmentOutput(serializers.Serializer[Enrolment]):
    id = serializers.UUIDField()
    system_version = serializers.UUIDField(source="release.system_version_id")
    model = serializers.SerializerMethodField(help_text="The id to pass as `model` to the gateway.")
    customer = serializers.UUIDField(source="customer_id")
    customer_name = serializers.CharField(source="customer.name")
    status = serializers.CharField(help_text=one_of(EnrolmentStatus.values))
    enrolled_by = serializers.CharField(source="enrolled_by.username")
    enrolled_at = serializers.DateTimeField()
    withdrawn_by = serializers.SerializerMethodField()
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    withdrawal_reason = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)
    withdrawal_log_index = serializers.IntegerField(allow_null=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_model(self, obj: Enrolment) -> str:
        sv = obj.release.system_version
        return model_id_of(lab_slug=sv.lab.slug, name=sv.name, sequence=sv.sequence)

    @extend_schema_field(OpenApiTypes.STR)
    def get_withdrawn_by(self, obj: Enrolment) -> str | None:
        return _username(obj.withdrawn_by)


@extend_schema_serializer(component_name="EnrolmentPlaces")
class PlacesOutput(serializers.Serializer[Any]):
    stage = serializers.IntegerField(help_text=one_of([str(s) for s in Stage.values]))
    status = serializers.CharField()
    cap = serializers.IntegerField(help_text="The standard's cap on active customers at stage 2.")
    active = serializers.IntegerField()
    remaining = serializers.IntegerField(help_text="Places left: cap − active, never below 0.")


# KYC records


@extend_schema_serializer(component_name="BeneficialOwnerInput")
class OwnerInput(serializers.Serializer[Any]):
    full_name = serializers.CharField(max_length=200)
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    ownership_percent = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)
    controls = serializers.BooleanField(default=False)


class KycApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="KycSubmission")
    class InputSerializer(serializers.Serializer[Any]):
        legal_name = serializers.CharField(max_length=200)
        registration_number = serializers.CharField(max_length=64)
        jurisdiction = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
        registered_address = serializers.CharField(max_length=1000)
        stated_purpose = serializers.CharField(max_length=5000, help_text="What the system will be used for.")
        beneficial_owners = serializers.ListField(child=OwnerInput(), allow_empty=False, max_length=services.MAX_OWNERS)

    @extend_schema(
        operation_id="kyc_get",
        responses={200: KYC_VIEW, **ERRORS},
        tags=TAGS,
        description=(
            "The customer's KYC record. Its members and the regulator see all of it; a lab sees the summary "
            "(status and stated purpose) of customers enrolled in its releases."
        ),
    )
    def get(self, request: Request, organisation_pk: Any) -> Response:
        actor = actor_of(request)
        organisation = selectors.kyc_customer_get(actor=actor, organisation_pk=organisation_pk)
        return Response(_kyc_out(request, selectors.kyc_record_get(actor=actor, organisation=organisation)))

    @extend_schema(
        operation_id="kyc_submit",
        request=InputSerializer,
        responses={200: KycRecordOutput, 201: KycRecordOutput, **ERRORS},
        tags=TAGS,
        description=(
            "A member of the customer submits its KYC record (201) or resubmits it (200). A resubmission needs "
            "the regulator's verification again; until then the customer's gateway tokens stop."
        ),
    )
    def post(self, request: Request, organisation_pk: Any) -> Response:
        actor = actor_of(request)
        organisation = selectors.kyc_customer_get(actor=actor, organisation_pk=organisation_pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record, created = services.kyc_submit(actor=actor, organisation=organisation, **data.validated_data)
        return Response(_kyc_out(request, record), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class KycVerifyApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="KycVerification")
    class InputSerializer(serializers.Serializer[Any]):
        note = serializers.CharField(max_length=services.MAX_NOTE, help_text="What was checked.")
        submission_digest = serializers.RegexField(
            r"^[0-9a-f]{64}$",
            required=False,
            help_text="The submission reviewed; refused (409) if the customer resubmitted since.",
        )

    @extend_schema(
        operation_id="kyc_verify",
        request=InputSerializer,
        responses={200: KycRecordOutput, **ERRORS},
        tags=TAGS,
        description=(
            "The regulator verifies the customer's identity (or re-verifies it at the periodic re-review). "
            "It counts as verified until next_review_due."
        ),
    )
    def post(self, request: Request, organisation_pk: Any) -> Response:
        actor = actor_of(request)
        organisation = selectors.kyc_customer_get(actor=actor, organisation_pk=organisation_pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.kyc_verify(actor=actor, organisation=organisation, **data.validated_data)
        return Response(_kyc_out(request, record))


class KycRejectApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="KycRejection")
    class InputSerializer(serializers.Serializer[Any]):
        reason = serializers.CharField(max_length=services.MAX_REASON)

    @extend_schema(
        operation_id="kyc_reject",
        request=InputSerializer,
        responses={200: KycRecordOutput, **ERRORS},
        tags=TAGS,
        description="The regulator rejects the record; the customer's active enrolments are withdrawn.",
    )
    def post(self, request: Request, organisation_pk: Any) -> Response:
        actor = actor_of(request)
        organisation = selectors.kyc_customer_get(actor=actor, organisation_pk=organisation_pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.kyc_reject(actor=actor, organisation=organisation, reason=data.validated_data["reason"])
        return Response(_kyc_out(request, record))


class KycPendingApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    class FilterSerializer(serializers.Serializer[Any]):
        due_within_days = serializers.IntegerField(
            required=False,
            min_value=0,
            max_value=366,
            help_text="Also list verified records whose re-review falls due within this many days.",
        )

    @extend_schema(
        operation_id="kyc_pending_list",
        parameters=[FilterSerializer],
        responses={200: KycRecordOutput(many=True), **ERRORS},
        tags=TAGS,
        description="The regulator's queue: KYC records submitted or resubmitted, and those due for re-review.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.kyc_pending_list(
            actor=actor_of(request), due_within_days=f.validated_data.get("due_within_days", 0)
        )
        return paginated(self, qs, KycRecordOutput)


# Enrolments


class EnrolmentListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    class FilterSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=EnrolmentStatus.choices, required=False)

    @extend_schema(
        operation_id="enrolments_list",
        parameters=[FilterSerializer],
        responses={200: EnrolmentOutput(many=True), **ERRORS},
        tags=TAGS,
        description="Enrolments the caller may see: a customer's own, a lab's releases', all for the regulator.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.enrolment_list(actor=actor_of(request), status=f.validated_data.get("status"))
        return paginated(self, qs, EnrolmentOutput)


class ReleaseEnrolmentListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    class FilterSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=EnrolmentStatus.choices, required=False)

    @extend_schema_serializer(component_name="EnrolmentInput")
    class InputSerializer(serializers.Serializer[Any]):
        customer = serializers.UUIDField(help_text="The customer organisation's id (it gives it to the lab).")

    @extend_schema(
        operation_id="release_enrolments_list",
        parameters=[FilterSerializer],
        responses={200: EnrolmentOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.release_system_version_get(actor=actor, system_version_pk=system_version_pk)
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.enrolment_list(actor=actor, system_version=system_version, status=f.validated_data.get("status"))
        return paginated(self, qs, EnrolmentOutput)

    @extend_schema(
        operation_id="release_enrolments_create",
        request=InputSerializer,
        responses={201: EnrolmentOutput, **ERRORS},
        tags=TAGS,
        description=(
            "An admin of the system's lab enrols a KYC-verified customer at stage 2. At most the standard's "
            "stage2_customer_cap are active at once (409 customer_cap_reached)."
        ),
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.release_system_version_get(actor=actor, system_version_pk=system_version_pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrolment = services.enrolment_create(
            actor=actor, system_version=system_version, customer=data.validated_data["customer"]
        )
        enrolment = selectors.enrolment_get(actor=actor, system_version=system_version, pk=enrolment.pk)
        return Response(EnrolmentOutput(enrolment).data, status=status.HTTP_201_CREATED)


class ReleaseEnrolmentPlacesApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="release_enrolment_places",
        responses={200: PlacesOutput, **ERRORS},
        tags=TAGS,
        description="The cap, active enrolments and places remaining at stage 2.",
    )
    def get(self, request: Request, system_version_pk: Any) -> Response:
        system_version = selectors.release_system_version_get(
            actor=actor_of(request), system_version_pk=system_version_pk
        )
        places = selectors.enrolment_places(system_version=system_version)
        return Response(
            PlacesOutput(
                {
                    "stage": places.stage,
                    "status": places.status,
                    "cap": places.cap,
                    "active": places.active,
                    "remaining": places.remaining,
                }
            ).data
        )


class ReleaseEnrolmentWithdrawApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="EnrolmentWithdrawal")
    class InputSerializer(serializers.Serializer[Any]):
        reason = serializers.CharField(max_length=services.MAX_REASON)

    @extend_schema(
        operation_id="release_enrolments_withdraw",
        request=InputSerializer,
        responses={200: EnrolmentOutput, **ERRORS},
        tags=TAGS,
        description="An admin of the system's lab withdraws a customer; its gateway tokens stop at once.",
    )
    def post(self, request: Request, system_version_pk: Any, pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.release_system_version_get(actor=actor, system_version_pk=system_version_pk)
        enrolment = selectors.enrolment_get(actor=actor, system_version=system_version, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.enrolment_withdraw(actor=actor, enrolment=enrolment, reason=data.validated_data["reason"])
        enrolment = selectors.enrolment_get(actor=actor, system_version=system_version, pk=pk)
        return Response(EnrolmentOutput(enrolment).data)


class EnrolmentConsentOutput(serializers.Serializer[EnrolmentConsent]):
    id = serializers.UUIDField()
    customer = serializers.UUIDField(source="customer_id")
    customer_name = serializers.CharField(source="customer.name")
    system_version = serializers.UUIDField(source="system_version_id")
    granted_at = serializers.DateTimeField()
    withdrawn_at = serializers.DateTimeField(allow_null=True)


def _consent_system_version(actor: Any, system_version_pk: Any) -> Any:
    """The lab's and the regulator's view of the system, or a customer's."""
    if actor.customer_ids:
        return selectors.consent_system_version_get(actor=actor, system_version_pk=system_version_pk)
    return selectors.release_system_version_get(actor=actor, system_version_pk=system_version_pk)


class ReleaseEnrolmentConsentListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="EnrolmentConsentInput")
    class InputSerializer(serializers.Serializer[Any]):
        customer = serializers.UUIDField(
            required=False, help_text="The customer organisation you act for (needed only if you act for several)."
        )

    @extend_schema(
        operation_id="release_enrolment_consents_list",
        responses={200: EnrolmentConsentOutput(many=True), **ERRORS},
        tags=TAGS,
        description=(
            "Customers that consented to enrolment in this system (the lab's list to enrol from); "
            "a customer sees its own."
        ),
    )
    def get(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = _consent_system_version(actor, system_version_pk)
        qs = selectors.enrolment_consent_list(actor=actor, system_version=system_version).select_related("customer")
        return paginated(self, qs, EnrolmentConsentOutput)

    @extend_schema(
        operation_id="release_enrolment_consents_create",
        request=InputSerializer,
        responses={201: EnrolmentConsentOutput, **ERRORS},
        tags=TAGS,
        description=(
            "A member of a customer organisation consents to its enrolment in this system's release at stage 2. "
            "The lab can enrol only customers that consented."
        ),
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.consent_system_version_get(actor=actor, system_version_pk=system_version_pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent = services.enrolment_consent_grant(
            actor=actor, system_version=system_version, customer=data.validated_data.get("customer")
        )
        return Response(EnrolmentConsentOutput(consent).data, status=status.HTTP_201_CREATED)


class ReleaseEnrolmentConsentWithdrawApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="release_enrolment_consents_withdraw",
        request=ReleaseEnrolmentConsentListApi.InputSerializer,
        responses={204: None, **ERRORS},
        tags=TAGS,
        description="The customer withdraws its consent; an active enrolment in the release is withdrawn with it.",
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.consent_system_version_get(actor=actor, system_version_pk=system_version_pk)
        data = ReleaseEnrolmentConsentListApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.enrolment_consent_withdraw(
            actor=actor, system_version=system_version, customer=data.validated_data.get("customer")
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
