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
    AcademicSummary,
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
    Finding,
    FindingSeverity,
    FindingStatus,
    FindingUpdate,
    InfosecLevel,
    OrganisationRelationship,
    RelationshipKind,
    RetestOutcome,
    SigningKey,
    SigningKeyStatus,
    SignOff,
    SignOffDecision,
    SummaryStatus,
)
from core.api import ERRORS, CodeField, CreatedCursorPagination, RegulatorWrites, actor_of, one_of, paginated
from core.models import Organisation, OrganisationKind, Role
from core.permissions import VIEW, require, require_regulator
from labs.models import SystemVersion
from standards.models import CapabilityKind, RiskArea

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


# Findings (issue 5)


@extend_schema_field(OpenApiTypes.UUID)
class VisibleAuditField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> Any:
        return Audit.objects.visible_to(actor_of(self.context["request"]), VIEW)


@extend_schema_serializer(component_name="Evidence")
class EvidenceSerializer(serializers.Serializer[Any]):
    kind = CodeField(["eval_sample", "gateway_log", "file"])
    reference = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", help_text="SHA-256, 64 lowercase hex.")


@extend_schema_serializer(component_name="FindingUpdate")
class FindingUpdateOutput(serializers.Serializer[FindingUpdate]):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    author = serializers.CharField(source="author.get_username")
    organisation = serializers.UUIDField(source="organisation_id")
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    note = serializers.CharField()
    system_version = serializers.UUIDField(source="system_version_id", allow_null=True)
    outcome = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="Finding")
class FindingOutput(serializers.Serializer[Finding]):
    id = serializers.UUIDField()
    audit = serializers.UUIDField(source="audit_id")
    system_version = serializers.UUIDField(source="system_version_id")
    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    title = serializers.CharField()
    description = serializers.CharField()
    severity = serializers.CharField(help_text=one_of(FindingSeverity.values))
    risk_area = serializers.CharField(help_text=one_of(RiskArea.values))
    capability_kind = serializers.CharField(help_text=one_of(CapabilityKind.values))
    status = serializers.CharField(help_text=one_of(FindingStatus.values))
    evidence = EvidenceSerializer(many=True)
    log_index = serializers.IntegerField(allow_null=True, help_text="Log entry of the filing.")
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    updates = FindingUpdateOutput(many=True, source="updates.all")


class FindingListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="FindingFilter")
    class FilterSerializer(serializers.Serializer[Any]):
        audit = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=FindingStatus.choices, required=False)
        open_for = VisibleSystemVersionField(
            required=False, help_text="Only findings open against this system version (carried over included)."
        )

    @extend_schema_serializer(component_name="FindingFile")
    class InputSerializer(serializers.Serializer[Any]):
        audit = VisibleAuditField()
        title = serializers.CharField(max_length=200)
        description = serializers.CharField(max_length=50_000)
        severity = CodeField(FindingSeverity.choices)
        risk_area = CodeField(RiskArea.choices)
        capability_kind = CodeField(CapabilityKind.choices)
        evidence = EvidenceSerializer(many=True, required=False, default=list)

    @extend_schema(
        operation_id="findings_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: FindingOutput(many=True), **ERRORS},
        description="Findings on audits the actor's lab or organisation is part of; all for the regulator.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params, context={"request": request})
        f.is_valid(raise_exception=True)
        qs = selectors.finding_list(
            actor=actor_of(request),
            audit_id=f.validated_data.get("audit"),
            status=f.validated_data.get("status"),
            open_for=f.validated_data.get("open_for"),
        ).prefetch_related("updates__author")
        return paginated(self, qs, FindingOutput)

    @extend_schema(
        operation_id="findings_file",
        tags=TAGS,
        request=InputSerializer,
        responses={201: FindingOutput, **ERRORS},
        description="An assigned, certified, conflict-free auditor files a finding on an open audit.",
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        data = dict(s.validated_data)
        data["evidence"] = [dict(e) for e in data.get("evidence", [])]
        finding = services.finding_file(actor=actor, **data)
        return Response(
            FindingOutput(selectors.finding_get(actor=actor, pk=finding.pk)).data, status=status.HTTP_201_CREATED
        )


class FindingDetailApi(APIView):
    @extend_schema(operation_id="findings_retrieve", tags=TAGS, responses={200: FindingOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(FindingOutput(selectors.finding_get(actor=actor_of(request), pk=pk)).data)


@extend_schema_serializer(component_name="FindingNote")
class NoteInput(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=20_000)


def _finding_change(request: Request, pk: Any, change: Any) -> Response:
    actor = actor_of(request)
    finding = selectors.finding_get(actor=actor, pk=pk)
    s = NoteInput(data=request.data)
    s.is_valid(raise_exception=True)
    change(actor=actor, finding=finding, note=s.validated_data["note"])
    return Response(FindingOutput(selectors.finding_get(actor=actor, pk=pk)).data)


def _finding_view(verb: str, service: Any, who: str) -> type[APIView]:
    class View(APIView):
        @extend_schema(
            operation_id=f"findings_{verb}",
            tags=TAGS,
            request=NoteInput,
            responses={200: FindingOutput, **ERRORS},
            description=who,
        )
        def post(self, request: Request, pk: Any) -> Response:
            return _finding_change(request, pk, service)

    View.__name__ = View.__qualname__ = f"Finding{verb.title().replace('_', '')}Api"
    return View


FindingRespondApi = _finding_view("respond", services.finding_respond, "The lab answers a finding.")
FindingMitigateApi = _finding_view(
    "mitigate", services.finding_mitigate, "The lab reports a mitigation; the finding awaits re-test."
)
FindingCloseApi = _finding_view(
    "close", services.finding_close, "Only the filing organisation or the regulator closes a finding."
)


FindingAcceptRiskApi = _finding_view(
    "accept_risk",
    services.finding_accept_risk,
    "Only the regulator accepts the risk of a finding, and (by default) only as a decision of two regulator "
    "users: this one-person endpoint then answers 409 second_regulator_required; propose it at "
    "POST /api/regulator-decisions.",
)


class FindingRetestApi(APIView):
    @extend_schema_serializer(component_name="FindingRetest")
    class InputSerializer(serializers.Serializer[Any]):
        system_version = VisibleSystemVersionField(help_text="The finding's version or a successor.")
        outcome = CodeField(RetestOutcome.choices)
        note = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="findings_retest",
        tags=TAGS,
        request=InputSerializer,
        responses={200: FindingOutput, **ERRORS},
        description=(
            "The filing organisation records a re-test on a system version. Resolved: the finding stops carrying "
            "over to that version and its successors."
        ),
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        finding = selectors.finding_get(actor=actor, pk=pk)
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        services.finding_retest(actor=actor, finding=finding, **s.validated_data)
        return Response(FindingOutput(selectors.finding_get(actor=actor, pk=pk)).data)


# Signing keys


@extend_schema_serializer(component_name="SigningKey")
class SigningKeyOutput(serializers.Serializer[SigningKey]):
    keyid = serializers.CharField(help_text="SHA-256 hex of the raw Ed25519 public key.")
    public_key = serializers.CharField(source="public_key_pem", help_text="PEM (SubjectPublicKeyInfo).")
    owner = serializers.CharField(source="user.get_username")
    owner_id = serializers.CharField(source="user_id")
    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    role = serializers.CharField()
    status = serializers.CharField(help_text=one_of(SigningKeyStatus.values))
    created_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(
        allow_null=True, help_text="A revoked key verifies only statements accepted before this time."
    )


class SigningKeyListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="SigningKeyFilter")
    class FilterSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=SigningKeyStatus.choices, required=False)

    @extend_schema_serializer(component_name="SigningKeyRegister")
    class InputSerializer(serializers.Serializer[Any]):
        public_key = serializers.CharField(max_length=1000, help_text="Ed25519 public key, PEM.")
        organisation = VisibleOrganisationField(required=False, help_text="Needed if you sign for several.")

    @extend_schema(
        operation_id="keys_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: SigningKeyOutput(many=True), **ERRORS},
        description="The public register of signing keys.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        return paginated(
            self,
            selectors.signing_key_list(actor=actor_of(request), status=f.validated_data.get("status")),
            SigningKeyOutput,
        )

    @extend_schema(
        operation_id="keys_register",
        tags=TAGS,
        request=InputSerializer,
        responses={201: SigningKeyOutput, **ERRORS},
        description="An auditor or lab reviewer registers an Ed25519 public key; the regulator approves it.",
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        key = services.signing_key_register(
            actor=actor,
            public_key_pem_text=s.validated_data["public_key"],
            organisation=s.validated_data.get("organisation"),
        )
        return Response(SigningKeyOutput(key).data, status=status.HTTP_201_CREATED)


class SigningKeyDetailApi(APIView):
    @extend_schema(
        operation_id="keys_retrieve",
        tags=TAGS,
        responses={200: SigningKeyOutput, **ERRORS},
        description="A signer's public key (PEM), its owner and status: verify an envelope without trusting us.",
    )
    def get(self, request: Request, keyid: str) -> Response:
        return Response(SigningKeyOutput(selectors.signing_key_get(actor=actor_of(request), keyid=keyid)).data)


class SigningKeyApproveApi(APIView):
    permission_classes = (IsAuthenticated, RegulatorWrites)

    @extend_schema(
        operation_id="keys_approve",
        tags=TAGS,
        request=None,
        responses={200: SigningKeyOutput, **ERRORS},
        description="The regulator binds the key to its person and organisation.",
    )
    def post(self, request: Request, keyid: str) -> Response:
        actor = actor_of(request)
        key = services.signing_key_approve(actor=actor, key=selectors.signing_key_get(actor=actor, keyid=keyid))
        return Response(SigningKeyOutput(key).data)


class SigningKeyRevokeApi(APIView):
    @extend_schema(
        operation_id="keys_revoke",
        tags=TAGS,
        request=ReasonInput,
        responses={200: SigningKeyOutput, **ERRORS},
        description="The key's owner or the regulator revokes it; it stays on record.",
    )
    def post(self, request: Request, keyid: str) -> Response:
        actor = actor_of(request)
        key = selectors.signing_key_get(actor=actor, keyid=keyid)
        key = services.signing_key_revoke(actor=actor, key=key, reason=_reason(request))
        return Response(SigningKeyOutput(key).data)


# Sign-offs


@extend_schema_serializer(component_name="DsseSignature")
class DsseSignatureSerializer(serializers.Serializer[Any]):
    keyid = serializers.CharField(max_length=64)
    sig = serializers.CharField(max_length=200, help_text="Base64 Ed25519 signature over the DSSE PAE.")


@extend_schema_serializer(component_name="DsseEnvelope")
class EnvelopeSerializer(serializers.Serializer[Any]):
    payloadType = serializers.CharField(max_length=100)
    payload = serializers.CharField(max_length=200_000, help_text="Base64 of the RFC 8785 statement.")
    signatures = DsseSignatureSerializer(many=True)


@extend_schema_serializer(component_name="SignOff")
class SignOffOutput(serializers.Serializer[SignOff]):
    id = serializers.UUIDField()
    system_version = serializers.UUIDField(source="system_version_id")
    stage = serializers.IntegerField()
    decision = serializers.CharField(help_text=one_of(SignOffDecision.values))
    audit = serializers.UUIDField(source="audit_id", allow_null=True)
    signer = serializers.CharField(source="signer.get_username")
    organisation = serializers.UUIDField(source="organisation_id")
    role = serializers.CharField()
    keyid = serializers.CharField(source="key.keyid")
    payload_digest = serializers.CharField()
    issued_at = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    status = serializers.CharField()
    void_reason = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)
    valid_now = serializers.SerializerMethodField(help_text="Active, unexpired, and what it binds is unchanged.")
    validity = serializers.SerializerMethodField(help_text="Why valid_now is what it is.")
    created_at = serializers.DateTimeField()

    def _validity(self, obj: SignOff) -> tuple[bool, str]:
        # Computed once per sign-off: it reads the findings and the suite evidence.
        # (With many=True one child serializer serves every object.)
        cache: dict[Any, tuple[bool, str]] = self.__dict__.setdefault("_validity_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = services.signoff_validity(signoff=obj)
        return cache[obj.pk]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_valid_now(self, obj: SignOff) -> bool:
        return self._validity(obj)[0]

    @extend_schema_field(OpenApiTypes.STR)
    def get_validity(self, obj: SignOff) -> str:
        return self._validity(obj)[1]


class SignOffStatementApi(APIView):
    @extend_schema_serializer(component_name="SignOffStatementQuery")
    class FilterSerializer(serializers.Serializer[Any]):
        system_version = VisibleSystemVersionField()
        stage = serializers.IntegerField(min_value=1, max_value=3)
        decision = serializers.ChoiceField(choices=SignOffDecision.choices)
        audit = VisibleAuditField(required=False, help_text="Required for auditors; none for lab reviewers.")

    @extend_schema(
        operation_id="signoffs_statement",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description=(
            "The in-toto Statement v1 to sign (predicateType https://stagegate.dev/attestations/stage-signoff/v1). "
            "Serialise it with RFC 8785, sign the DSSE PAE with your Ed25519 key, and POST the envelope to /signoffs."
        ),
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params, context={"request": request})
        f.is_valid(raise_exception=True)
        return Response(services.signoff_statement_build(actor=actor_of(request), **f.validated_data))


class SignOffListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="SignOffFilter")
    class FilterSerializer(serializers.Serializer[Any]):
        system_version = serializers.UUIDField(required=False)
        stage = serializers.IntegerField(min_value=1, max_value=3, required=False)

    @extend_schema(
        operation_id="signoffs_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: SignOffOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.signoff_list(
            actor=actor_of(request),
            system_version_id=f.validated_data.get("system_version"),
            stage=f.validated_data.get("stage"),
        )
        return paginated(self, qs, SignOffOutput)

    @extend_schema(
        operation_id="signoffs_submit",
        tags=TAGS,
        request=EnvelopeSerializer,
        responses={201: SignOffOutput, **ERRORS},
        description="Submit a signed statement (DSSE envelope). Every refusal has its own problem code.",
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        s = EnvelopeSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        signoff = services.signoff_submit(actor=actor, envelope=request.data)
        return Response(SignOffOutput(selectors.signoff_get(actor=actor, pk=signoff.pk)).data, status=201)


class SignOffDetailApi(APIView):
    @extend_schema(operation_id="signoffs_retrieve", tags=TAGS, responses={200: SignOffOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(SignOffOutput(selectors.signoff_get(actor=actor_of(request), pk=pk)).data)


class SignOffEnvelopeApi(APIView):
    @extend_schema(
        operation_id="signoffs_envelope",
        tags=TAGS,
        responses={200: EnvelopeSerializer, **ERRORS},
        description="The stored DSSE envelope as submitted: payloadType, base64 payload, signatures (keyid, sig).",
    )
    def get(self, request: Request, pk: Any) -> Response:
        return Response(selectors.signoff_get(actor=actor_of(request), pk=pk).envelope)


# The regulator's relationship register


@extend_schema_serializer(component_name="OrganisationRelationship")
class RelationshipOutput(serializers.Serializer[OrganisationRelationship]):
    id = serializers.UUIDField()
    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    counterparty = serializers.UUIDField(source="counterparty_id")
    counterparty_name = serializers.CharField(source="counterparty.name")
    kind = serializers.CharField(help_text=one_of(RelationshipKind.values))
    description = serializers.CharField()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(allow_null=True)
    end_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class RelationshipListApi(APIView):
    pagination_class = CreatedCursorPagination
    permission_classes = (IsAuthenticated, RegulatorWrites)

    class FilterSerializer(serializers.Serializer[Any]):
        organisation = serializers.UUIDField(required=False)
        in_force = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema_serializer(component_name="RelationshipRecord")
    class InputSerializer(serializers.Serializer[Any]):
        organisation = VisibleOrganisationField()
        counterparty = VisibleOrganisationField()
        kind = CodeField(RelationshipKind.choices)
        description = serializers.CharField(max_length=5000)
        starts_on = serializers.DateField()
        ends_on = serializers.DateField(required=False, allow_null=True, default=None)

    @extend_schema(
        operation_id="relationships_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: RelationshipOutput(many=True), **ERRORS},
        description="Register entries naming the actor's organisations; all of them for the regulator.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.relationship_list(
            actor=actor_of(request),
            organisation_id=f.validated_data.get("organisation"),
            in_force=f.validated_data.get("in_force"),
        )
        return paginated(self, qs, RelationshipOutput)

    @extend_schema(
        operation_id="relationships_record",
        tags=TAGS,
        request=InputSerializer,
        responses={201: RelationshipOutput, **ERRORS},
        description=(
            "The regulator records a relationship (ownership, funding, consulting, an employment move) between "
            "two organisations. In force between an auditor and a lab, it ends the auditor's assignments on the "
            "lab's open audits and voids its pending sign-offs; assignment stays barred until the cooling-off "
            "period after it ends."
        ),
    )
    def post(self, request: Request) -> Response:
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        relationship = services.relationship_record(actor=actor_of(request), **s.validated_data)
        return Response(RelationshipOutput(relationship).data, status=status.HTTP_201_CREATED)


class RelationshipDetailApi(APIView):
    @extend_schema(operation_id="relationships_retrieve", tags=TAGS, responses={200: RelationshipOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(RelationshipOutput(selectors.relationship_get(actor=actor_of(request), pk=pk)).data)


class RelationshipEndApi(APIView):
    @extend_schema_serializer(component_name="RelationshipEnd")
    class InputSerializer(serializers.Serializer[Any]):
        ends_on = serializers.DateField()
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        operation_id="relationships_end",
        tags=TAGS,
        request=InputSerializer,
        responses={200: RelationshipOutput, **ERRORS},
        description="The regulator records the day a relationship ended; the cooling-off period runs from it.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        relationship = selectors.relationship_get(actor=actor, pk=pk)
        require_regulator(actor)  # refused before the body is read: those named may look, not write
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        relationship = services.relationship_end(actor=actor, relationship=relationship, **s.validated_data)
        return Response(RelationshipOutput(selectors.relationship_get(actor=actor, pk=relationship.pk)).data)


# Academic summaries


@extend_schema_serializer(component_name="AcademicSummary")
class SummaryOutput(serializers.Serializer[AcademicSummary]):
    id = serializers.UUIDField()
    audit = serializers.UUIDField(source="audit_id")
    organisation = serializers.UUIDField(source="organisation_id")
    organisation_name = serializers.CharField(source="organisation.name")
    title = serializers.CharField()
    body = serializers.CharField()
    body_sha256 = serializers.CharField()
    status = serializers.CharField(help_text=one_of(SummaryStatus.values))
    published_at = serializers.DateTimeField()
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    withdraw_reason = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)


class SummaryListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="SummaryPublish")
    class InputSerializer(serializers.Serializer[Any]):
        title = serializers.CharField(max_length=200)
        body = serializers.CharField(max_length=100_000)

    @extend_schema(
        operation_id="summaries_list",
        tags=TAGS,
        responses={200: SummaryOutput(many=True), **ERRORS},
        description="Published academic summaries of the audit (and the actor's group's withdrawn ones).",
    )
    def get(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        audit = selectors.audit_get(actor=actor, pk=pk)
        return paginated(self, selectors.summary_list(actor=actor, audit_id=audit.pk), SummaryOutput)

    @extend_schema(
        operation_id="summaries_publish",
        tags=TAGS,
        request=InputSerializer,
        responses={201: SummaryOutput, **ERRORS},
        description=(
            "An academic group assigned to the audit publishes its summary once the embargo after the audit "
            "closed has passed (409 embargo_in_force, with embargo_lifts_at, before). Nobody approves it."
        ),
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        audit = selectors.audit_get(actor=actor, pk=pk)
        # Refused before the body is read: only an academic group's members publish.
        require(
            any(actor.has_role(org, Role.ACADEMIC_AUDITOR) for org in actor.ids_of_kind(OrganisationKind.ACADEMIC)),
            "Only the members of an academic group assigned to the audit publish a summary of it.",
        )
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        summary = services.academic_summary_publish(actor=actor, audit=audit, **s.validated_data)
        return Response(SummaryOutput(summary).data, status=status.HTTP_201_CREATED)


class SummaryDetailApi(APIView):
    @extend_schema(operation_id="summaries_retrieve", tags=TAGS, responses={200: SummaryOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(SummaryOutput(selectors.summary_get(actor=actor_of(request), pk=pk)).data)


class SummaryWithdrawApi(APIView):
    @extend_schema(
        operation_id="summaries_withdraw",
        tags=TAGS,
        request=ReasonInput,
        responses={200: SummaryOutput, **ERRORS},
        description="The authors' group withdraws its summary. The lab cannot (403 lab_cannot_veto).",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        summary = selectors.summary_get(actor=actor, pk=pk)
        summary = services.academic_summary_withdraw(actor=actor, summary=summary, reason=_reason(request))
        return Response(SummaryOutput(selectors.summary_get(actor=actor, pk=summary.pk)).data)
