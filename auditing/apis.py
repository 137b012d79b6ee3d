"""API for certifications, conflicts of interest, audits, assignments and fees.
One view per URL; each method parses, calls one service or selector and
serialises."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auditing import selectors, services
from auditing.models import (
    Audit,
    AuditAssignment,
    AuditKind,
    AuditStatus,
    Certification,
    CertificationStatus,
    ConflictKind,
    ConflictOfInterest,
    Fee,
    FeeDirection,
    InfosecLevel,
)
from core.api import ERRORS, CodeField, CreatedCursorPagination, RegulatorWrites, actor_of, one_of, paginated
from core.models import Organisation
from core.permissions import VIEW
from labs.models import SystemVersion
from standards.models import RiskArea

TAGS = ["auditing"]


@extend_schema_field(OpenApiTypes.UUID)
class VisibleOrganisationField(serializers.PrimaryKeyRelatedField):
    """An organisation id the acting user may see; any other is 'does not exist'."""

    def get_queryset(self) -> Any:
        return Organisation.objects.visible_to(actor_of(self.context["request"]), VIEW)


@extend_schema_field(OpenApiTypes.UUID)
class VisibleSystemVersionField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> Any:
        return SystemVersion.objects.visible_to(actor_of(self.context["request"]), VIEW)


@extend_schema_serializer(component_name="Reason")
class ReasonInput(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)


def _reason(request: Request) -> str:
    s = ReasonInput(data=request.data)
    s.is_valid(raise_exception=True)
    return str(s.validated_data["reason"])


# Outputs


@extend_schema_serializer(component_name="Certification")
class CertificationOutput(serializers.Serializer[Certification]):
    id = serializers.UUIDField()
    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    status = serializers.CharField(help_text=one_of(CertificationStatus.values))
    valid_now = serializers.SerializerMethodField(help_text="Active, issued and not yet expired.")
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    risk_areas = serializers.ListField(child=serializers.CharField(), help_text=one_of(RiskArea.values))
    infosec_level = serializers.CharField(help_text=one_of(InfosecLevel.values))
    status_reason = serializers.CharField()
    status_changed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_valid_now(self, obj: Certification) -> bool:
        return obj.is_valid_at()


@extend_schema_serializer(component_name="ConflictOfInterest")
class ConflictOutput(serializers.Serializer[ConflictOfInterest]):
    id = serializers.UUIDField()
    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    lab = serializers.UUIDField(source="lab_id")
    lab_name = serializers.CharField(source="lab.name")
    kind = serializers.CharField(help_text=one_of(ConflictKind.values))
    reason = serializers.CharField()
    in_force = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_in_force(self, obj: ConflictOfInterest) -> bool:
        return obj.ended_at is None


@extend_schema_serializer(component_name="AuditAssignment")
class AssignmentOutput(serializers.Serializer[AuditAssignment]):
    id = serializers.UUIDField()
    audit = serializers.UUIDField(source="audit_id")
    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    assigned_at = serializers.DateTimeField(source="created_at")
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()


@extend_schema_serializer(component_name="Audit")
class AuditOutput(serializers.Serializer[Audit]):
    id = serializers.UUIDField()
    lab = serializers.UUIDField(source="lab_id")
    lab_name = serializers.CharField(source="lab.name")
    system_version = serializers.UUIDField(source="system_version_id")
    system_version_name = serializers.CharField(source="system_version.__str__")
    standard = serializers.UUIDField(source="standard_id")
    standard_version = serializers.CharField(source="standard.version")
    kind = serializers.CharField(help_text=one_of(AuditKind.values))
    status = serializers.CharField(help_text=one_of(AuditStatus.values))
    scope_notes = serializers.CharField()
    opened_at = serializers.DateTimeField(source="created_at")
    closed_at = serializers.DateTimeField(allow_null=True)
    close_reason = serializers.CharField()
    assignments = AssignmentOutput(many=True, source="assignments.all")


@extend_schema_serializer(component_name="Fee")
class FeeOutput(serializers.Serializer[Fee]):
    id = serializers.UUIDField()
    audit = serializers.UUIDField(source="audit_id")
    direction = serializers.CharField(help_text=one_of(FeeDirection.values))
    organisation = serializers.UUIDField(source="organisation_id", help_text="The paying lab or the paid auditor.")
    organisation_name = serializers.CharField(source="organisation.name")
    assignment = serializers.UUIDField(source="assignment_id", allow_null=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


# Certifications


class CertificationListApi(APIView):
    pagination_class = CreatedCursorPagination
    permission_classes = (IsAuthenticated, RegulatorWrites)

    class FilterSerializer(serializers.Serializer[Any]):
        organisation = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=CertificationStatus.choices, required=False)

    @extend_schema_serializer(component_name="CertificationIssue")
    class InputSerializer(serializers.Serializer[Any]):
        organisation = VisibleOrganisationField()
        expires_at = serializers.DateTimeField()
        risk_areas = serializers.ListField(child=CodeField(RiskArea.choices), allow_empty=False, max_length=20)
        infosec_level = serializers.ChoiceField(choices=InfosecLevel.choices)

    @extend_schema(
        operation_id="certifications_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: CertificationOutput(many=True), **ERRORS},
        description="The public register of certified auditor organisations and academic groups.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.certification_list(
            actor=actor_of(request),
            organisation_id=f.validated_data.get("organisation"),
            status=f.validated_data.get("status"),
        )
        return paginated(self, qs, CertificationOutput)

    @extend_schema(
        operation_id="certifications_issue",
        tags=TAGS,
        request=InputSerializer,
        responses={201: CertificationOutput, **ERRORS},
        description="The regulator certifies an organisation; a current certification is superseded (renewal).",
    )
    def post(self, request: Request) -> Response:
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        certification = services.certification_issue(actor=actor_of(request), **s.validated_data)
        return Response(CertificationOutput(certification).data, status=status.HTTP_201_CREATED)


class CertificationDetailApi(APIView):
    @extend_schema(operation_id="certifications_retrieve", tags=TAGS, responses={200: CertificationOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(CertificationOutput(selectors.certification_get(actor=actor_of(request), pk=pk)).data)


def _certification_change(request: Request, pk: Any, change: Any) -> Response:
    actor = actor_of(request)
    certification = selectors.certification_get(actor=actor, pk=pk)
    certification = change(actor=actor, certification=certification, reason=_reason(request))
    return Response(CertificationOutput(selectors.certification_get(actor=actor, pk=certification.pk)).data)


class CertificationSuspendApi(APIView):
    @extend_schema(
        operation_id="certifications_suspend",
        tags=TAGS,
        request=ReasonInput,
        responses={200: CertificationOutput, **ERRORS},
        description="The regulator suspends an active certification.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        return _certification_change(request, pk, services.certification_suspend)


class CertificationReinstateApi(APIView):
    @extend_schema(
        operation_id="certifications_reinstate",
        tags=TAGS,
        request=ReasonInput,
        responses={200: CertificationOutput, **ERRORS},
        description="The regulator reinstates a suspended certification. A revoked one is final.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        return _certification_change(request, pk, services.certification_reinstate)


class CertificationRevokeApi(APIView):
    @extend_schema(
        operation_id="certifications_revoke",
        tags=TAGS,
        request=ReasonInput,
        responses={200: CertificationOutput, **ERRORS},
        description="The regulator revokes a certification for good; the organisation's assignments end.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        return _certification_change(request, pk, services.certification_revoke)


# Conflicts of interest


class ConflictListApi(APIView):
    pagination_class = CreatedCursorPagination

    class FilterSerializer(serializers.Serializer[Any]):
        organisation = serializers.UUIDField(required=False)
        lab = serializers.UUIDField(required=False)
        in_force = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema_serializer(component_name="ConflictDeclare")
    class InputSerializer(serializers.Serializer[Any]):
        organisation = VisibleOrganisationField(help_text="The conflicted auditor organisation or academic group.")
        lab = VisibleOrganisationField()
        kind = CodeField(ConflictKind.choices)
        reason = serializers.CharField(max_length=5000)

    @extend_schema(
        operation_id="conflicts_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: ConflictOutput(many=True), **ERRORS},
        description="Conflicts the actor's organisation declared or that concern its lab; all for the regulator.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.conflict_list(
            actor=actor_of(request),
            organisation_id=f.validated_data.get("organisation"),
            lab_id=f.validated_data.get("lab"),
            in_force=f.validated_data.get("in_force"),
        )
        return paginated(self, qs, ConflictOutput)

    @extend_schema(
        operation_id="conflicts_declare",
        tags=TAGS,
        request=InputSerializer,
        responses={201: ConflictOutput, **ERRORS},
        description=(
            "A member of an auditor organisation declares its conflict with a lab, or the regulator does. "
            "The organisation's assignments on the lab's open audits end."
        ),
    )
    def post(self, request: Request) -> Response:
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        conflict = services.conflict_declare(actor=actor_of(request), **s.validated_data)
        return Response(ConflictOutput(conflict).data, status=status.HTTP_201_CREATED)


class ConflictDetailApi(APIView):
    @extend_schema(operation_id="conflicts_retrieve", tags=TAGS, responses={200: ConflictOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(ConflictOutput(selectors.conflict_get(actor=actor_of(request), pk=pk)).data)


class ConflictEndApi(APIView):
    @extend_schema(
        operation_id="conflicts_end",
        tags=TAGS,
        request=ReasonInput,
        responses={200: ConflictOutput, **ERRORS},
        description="Only the regulator ends a declared conflict.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        conflict = selectors.conflict_get(actor=actor, pk=pk)
        conflict = services.conflict_end(actor=actor, conflict=conflict, reason=_reason(request))
        return Response(ConflictOutput(selectors.conflict_get(actor=actor, pk=conflict.pk)).data)


# Audits


class AuditListApi(APIView):
    pagination_class = CreatedCursorPagination
    permission_classes = (IsAuthenticated, RegulatorWrites)

    class FilterSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=AuditStatus.choices, required=False)
        lab = serializers.UUIDField(required=False)

    @extend_schema_serializer(component_name="AuditOpen")
    class InputSerializer(serializers.Serializer[Any]):
        system_version = VisibleSystemVersionField()
        kind = CodeField(AuditKind.choices, required=False, default=AuditKind.INITIAL)
        scope_notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
        lab_fee_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
        currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, default="GBP", help_text="ISO 4217 code.")

    @extend_schema(
        operation_id="audits_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: AuditOutput(many=True), **ERRORS},
        description="A lab sees its audits, an auditor those its organisation is assigned to, the regulator all.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.audit_list(
            actor=actor_of(request), status=f.validated_data.get("status"), lab_id=f.validated_data.get("lab")
        ).prefetch_related("assignments__organisation")
        return paginated(self, qs, AuditOutput)

    @extend_schema(
        operation_id="audits_open",
        tags=TAGS,
        request=InputSerializer,
        responses={201: AuditOutput, **ERRORS},
        description="The regulator opens an audit under the standard in force, fixing the lab's fee.",
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        audit = services.audit_open(actor=actor, **s.validated_data)
        return Response(AuditOutput(selectors.audit_get(actor=actor, pk=audit.pk)).data, status=status.HTTP_201_CREATED)


class AuditDetailApi(APIView):
    @extend_schema(operation_id="audits_retrieve", tags=TAGS, responses={200: AuditOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(AuditOutput(selectors.audit_get(actor=actor_of(request), pk=pk)).data)


class AuditCloseApi(APIView):
    @extend_schema_serializer(component_name="AuditClose")
    class InputSerializer(serializers.Serializer[Any]):
        status = CodeField([(AuditStatus.CLOSED, "Closed"), (AuditStatus.CANCELLED, "Cancelled")])
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    @extend_schema(
        operation_id="audits_close",
        tags=TAGS,
        request=InputSerializer,
        responses={200: AuditOutput, **ERRORS},
        description="The regulator closes an open audit, or cancels it (with a reason).",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        audit = selectors.audit_get(actor=actor, pk=pk)
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        audit = services.audit_close(actor=actor, audit=audit, **s.validated_data)
        return Response(AuditOutput(selectors.audit_get(actor=actor, pk=audit.pk)).data)


# Assignments


class AssignmentListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="AuditAssign")
    class InputSerializer(serializers.Serializer[Any]):
        organisation = VisibleOrganisationField(help_text="A certified auditor organisation or academic group.")
        payout_amount = serializers.DecimalField(
            max_digits=12,
            decimal_places=2,
            min_value=Decimal("0.01"),
            help_text="Paid by the regulator, in the lab fee's currency.",
        )

    @extend_schema(
        operation_id="audits_assignments_list",
        tags=TAGS,
        responses={200: AssignmentOutput(many=True), **ERRORS},
    )
    def get(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        audit = selectors.audit_get(actor=actor, pk=pk)
        return paginated(self, selectors.assignment_list(actor=actor, audit=audit), AssignmentOutput)

    @extend_schema(
        operation_id="audits_assignments_create",
        tags=TAGS,
        request=InputSerializer,
        responses={201: AssignmentOutput, **ERRORS},
        description=(
            "The regulator assigns a certified organisation with no conflict of interest with the lab, "
            "subject to rotation, and fixes its payout."
        ),
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        audit = selectors.audit_get(actor=actor, pk=pk)
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        assignment = services.audit_assign(actor=actor, audit=audit, **s.validated_data)
        return Response(AssignmentOutput(assignment).data, status=status.HTTP_201_CREATED)


class AssignmentEndApi(APIView):
    @extend_schema(
        operation_id="audits_assignments_end",
        tags=TAGS,
        request=ReasonInput,
        responses={200: AssignmentOutput, **ERRORS},
        description="Only the regulator ends an assignment; the lab cannot remove its auditor.",
    )
    def post(self, request: Request, pk: Any, assignment_pk: Any) -> Response:
        actor = actor_of(request)
        audit = selectors.audit_get(actor=actor, pk=pk)
        assignment = selectors.assignment_get(actor=actor, audit=audit, pk=assignment_pk)
        assignment = services.assignment_end(actor=actor, assignment=assignment, reason=_reason(request))
        return Response(AssignmentOutput(selectors.assignment_get(actor=actor, audit=audit, pk=assignment.pk)).data)


# Fees


class FeeListApi(APIView):
    pagination_class = CreatedCursorPagination

    class FilterSerializer(serializers.Serializer[Any]):
        audit = serializers.UUIDField(required=False)
        direction = serializers.ChoiceField(choices=FeeDirection.choices, required=False)

    @extend_schema(
        operation_id="fees_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: FeeOutput(many=True), **ERRORS},
        description="A lab sees the fees it pays, an auditor the payouts it receives, the regulator all.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.fee_list(
            actor=actor_of(request),
            audit_id=f.validated_data.get("audit"),
            direction=f.validated_data.get("direction"),
        )
        return paginated(self, qs, FeeOutput)


class FeePaidApi(APIView):
    @extend_schema(
        operation_id="fees_mark_paid",
        tags=TAGS,
        request=None,
        responses={200: FeeOutput, **ERRORS},
        description="The regulator records that a fee was paid. Amounts never change.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        fee = selectors.fee_get(actor=actor, pk=pk)
        fee = services.fee_mark_paid(actor=actor, fee=fee)
        return Response(FeeOutput(selectors.fee_get(actor=actor, pk=fee.pk)).data)
