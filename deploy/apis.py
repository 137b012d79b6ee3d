"""API for the staged release: releases, gate checklists and requests, the
regulator's decisions, halts, re-audits and sanctions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, CreatedCursorPagination, RegulatorWrites, actor_of, one_of, paginated
from core.errors import InvalidInput
from deploy import decisions, selectors, services
from deploy.models import (
    DecisionKind,
    DecisionStatus,
    GateRequest,
    GateRequestStatus,
    Reaudit,
    ReauditSource,
    RegulatorDecision,
    Release,
    ReleaseStatus,
    Sanction,
    SanctionLevel,
)
from standards.models import Stage

TAGS = ["releases"]


@extend_schema_serializer(component_name="Release")
class ReleaseOutput(serializers.Serializer[Release]):
    system_version = serializers.UUIDField(source="system_version_id")
    stage = serializers.IntegerField(help_text=one_of([str(s) for s in Stage.values]))
    status = serializers.CharField(help_text=one_of(ReleaseStatus.values))
    reason = serializers.CharField()
    stage_changed_at = serializers.DateTimeField(allow_null=True)
    status_changed_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="ReleaseReasonInput")
class ReleaseReasonInput(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)


@extend_schema_serializer(component_name="ReleaseHaltInput")
class ReleaseHaltInput(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)
    to_stage = serializers.IntegerField(
        min_value=0,
        max_value=3,
        required=False,
        allow_null=True,
        default=None,
        help_text="Send the release back to this lower stage",
    )


class ReleaseDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="release_get", responses={200: ReleaseOutput, **ERRORS}, tags=TAGS)
    def get(self, request: Request, system_version_pk: Any) -> Response:
        release = selectors.release_get(actor=actor_of(request), system_version_pk=system_version_pk)
        return Response(ReleaseOutput(release).data)


class ReleaseHaltApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="release_halt",
        request=ReleaseHaltInput,
        responses={200: ReleaseOutput, **ERRORS},
        tags=TAGS,
        description=(
            "The regulator halts the release: every gateway token of the system version stops at once. "
            "Sending it back to a lower stage (`to_stage`) is a long halt, by default a decision of two "
            "regulator users: here it answers 409 second_regulator_required; propose it at "
            "POST /api/regulator-decisions."
        ),
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=system_version_pk)
        data = ReleaseHaltInput(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_halt(
            actor=actor,
            system_version=system_version,
            reason=data.validated_data["reason"],
            to_stage=data.validated_data["to_stage"],
        )
        return Response(ReleaseOutput(release).data)


class ReleaseResumeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="release_resume",
        request=ReleaseReasonInput,
        responses={200: ReleaseOutput, **ERRORS},
        tags=TAGS,
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=system_version_pk)
        data = ReleaseReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_resume(
            actor=actor, system_version=system_version, reason=data.validated_data["reason"]
        )
        return Response(ReleaseOutput(release).data)


# --- gate checklists and requests ---------------------------------------------


@extend_schema_serializer(component_name="GateChecklistItem")
class ChecklistItemOutput(serializers.Serializer[Any]):
    code = serializers.CharField()
    title = serializers.CharField()
    met = serializers.BooleanField()
    detail = serializers.CharField()
    evidence = serializers.ListField(child=serializers.DictField(), help_text="Links to the evidence (`url`)")


@extend_schema_serializer(component_name="GateChecklist")
class ChecklistOutput(serializers.Serializer[Any]):
    system_version = serializers.DictField()
    from_stage = serializers.IntegerField()
    to_stage = serializers.IntegerField()
    standard = serializers.DictField()
    evaluated_at = serializers.CharField()
    passed = serializers.BooleanField()
    changes = serializers.DictField(allow_null=True, help_text="What changed since the previous version, if any")
    items = ChecklistItemOutput(many=True)


class ReleaseChecklistApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="release_checklist",
        parameters=[OpenApiParameter("to_stage", int, description="The stage to evaluate (default: the next one)")],
        responses={200: ChecklistOutput, **ERRORS},
        tags=TAGS,
        description="The standard's requirements for the next stage, each met or not, why, and the evidence.",
    )
    def get(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=system_version_pk)
        raw = request.query_params.get("to_stage")
        to_stage = None
        if raw is not None:
            if not raw.isdigit():
                raise InvalidInput("Unknown stage.", errors={"to_stage": ["Must be 1, 2 or 3."]})
            to_stage = int(raw)
        return Response(services.gate_checklist(system_version=system_version, to_stage=to_stage))


@extend_schema_serializer(component_name="GateRequest")
class GateRequestOutput(serializers.Serializer[GateRequest]):
    id = serializers.UUIDField()
    system_version = serializers.UUIDField(source="system_version_id")
    from_stage = serializers.IntegerField()
    to_stage = serializers.IntegerField()
    status = serializers.CharField(help_text=one_of(GateRequestStatus.values))
    requested_by = serializers.CharField(source="requested_by.username")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    checklist = ChecklistOutput()
    checklist_digest = serializers.CharField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()
    decision_checklist = ChecklistOutput(allow_null=True)
    signoffs = serializers.SerializerMethodField()
    request_log_index = serializers.IntegerField(allow_null=True)
    decision_log_index = serializers.IntegerField(allow_null=True)

    def get_signoffs(self, obj: GateRequest) -> list[str]:
        return [str(pk) for pk in obj.signoffs.values_list("pk", flat=True)]


@extend_schema_serializer(component_name="GateRequestInput")
class GateRequestInput(serializers.Serializer[Any]):
    to_stage = serializers.IntegerField(min_value=1, max_value=3, required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReleaseGateRequestsApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="release_gate_request_list",
        responses={200: GateRequestOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=system_version_pk)
        return paginated(
            self, selectors.gate_request_list(actor=actor, system_version=system_version), GateRequestOutput
        )

    @extend_schema(
        operation_id="release_gate_request_create",
        request=GateRequestInput,
        responses={201: GateRequestOutput, **ERRORS},
        tags=TAGS,
        description=(
            "A lab admin asks to advance the release one stage. Refused with 409 `gate_requirements_unmet` and "
            "the checklist (in `checklist`) when a requirement is not met; otherwise it waits for the regulator."
        ),
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=system_version_pk)
        data = GateRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        gate_request = services.gate_request_create(
            actor=actor,
            system_version=system_version,
            to_stage=data.validated_data.get("to_stage"),
            note=data.validated_data["note"],
        )
        return Response(GateRequestOutput(gate_request).data, status=201)


class GateRequestListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="gate_request_list",
        parameters=[OpenApiParameter("status", str, description=one_of(GateRequestStatus.values))],
        responses={200: GateRequestOutput(many=True), **ERRORS},
        tags=TAGS,
        description="Gate requests the actor may see; `?status=pending` is the regulator's review queue.",
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in GateRequestStatus.values:
            raise InvalidInput("Unknown status.", errors={"status": [one_of(GateRequestStatus.values)]})
        return paginated(self, selectors.gate_request_list(actor=actor_of(request), status=status), GateRequestOutput)


class GateRequestDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="gate_request_get", responses={200: GateRequestOutput, **ERRORS}, tags=TAGS)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(GateRequestOutput(selectors.gate_request_get(actor=actor_of(request), pk=pk)).data)


@extend_schema_serializer(component_name="GateDecisionInput")
class GateDecisionInput(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(max_length=2000)


class GateRequestDecideApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="gate_request_decide",
        request=GateDecisionInput,
        responses={200: GateRequestOutput, **ERRORS},
        tags=TAGS,
        description=(
            "The regulator approves (the stage opens now, after the checklist is evaluated again) or rejects, "
            "with reasons."
        ),
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        gate_request = selectors.gate_request_get(actor=actor, pk=pk)
        data = GateDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        gate_request = services.gate_request_decide(
            actor=actor,
            gate_request=gate_request,
            decision=data.validated_data["decision"],
            reason=data.validated_data["reason"],
        )
        return Response(GateRequestOutput(gate_request).data)


class GateRequestWithdrawApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="gate_request_withdraw", request=None, responses={200: GateRequestOutput, **ERRORS}, tags=TAGS
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        gate_request = selectors.gate_request_get(actor=actor, pk=pk)
        return Response(GateRequestOutput(services.gate_request_withdraw(actor=actor, gate_request=gate_request)).data)


# --- re-audits ----------------------------------------------------------------


@extend_schema_serializer(component_name="Reaudit")
class ReauditOutput(serializers.Serializer[Reaudit]):
    id = serializers.UUIDField()
    system_version = serializers.UUIDField(source="system_version_id")
    origin = serializers.CharField(help_text=one_of(ReauditSource.values))
    reason = serializers.CharField()
    source_ref = serializers.CharField()
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by_audit = serializers.UUIDField(source="closed_by_audit_id", allow_null=True)
    log_index = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="ReauditInput")
class ReauditInput(serializers.Serializer[Any]):
    system_version = serializers.UUIDField()
    reason = serializers.CharField(max_length=2000)


class ReauditListApi(APIView):
    permission_classes = [IsAuthenticated, RegulatorWrites]
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="reaudit_list",
        parameters=[
            OpenApiParameter("system_version", OpenApiTypes.UUID),
            OpenApiParameter("open", bool, description="Only re-audits still owed"),
        ],
        responses={200: ReauditOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        sv = params.get("system_version")
        if sv is not None:
            sv = serializers.UUIDField().run_validation(sv)
        qs = selectors.reaudit_list(
            actor=actor_of(request), system_version_id=sv, open_only=params.get("open") == "true"
        )
        return paginated(self, qs, ReauditOutput)

    @extend_schema(
        operation_id="reaudit_require",
        request=ReauditInput,
        responses={201: ReauditOutput, **ERRORS},
        tags=TAGS,
        description="The regulator requires a re-audit: the version cannot advance until an audit opened after it closes.",
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        data = ReauditInput(data=request.data)
        data.is_valid(raise_exception=True)
        system_version = selectors.system_version_for_release(
            actor=actor, system_version_pk=data.validated_data["system_version"]
        )
        reaudit = services.reaudit_open(
            actor=actor,
            system_version=system_version,
            source=ReauditSource.REGULATOR,
            reason=data.validated_data["reason"],
        )
        return Response(ReauditOutput(reaudit).data, status=201)


class ReauditDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="reaudit_get", responses={200: ReauditOutput, **ERRORS}, tags=TAGS)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(ReauditOutput(selectors.reaudit_get(actor=actor_of(request), pk=pk)).data)


# --- sanctions ----------------------------------------------------------------


@extend_schema_serializer(component_name="Sanction")
class SanctionOutput(serializers.Serializer[Sanction]):
    id = serializers.UUIDField()
    lab = serializers.UUIDField(source="lab_id")
    level = serializers.CharField(help_text=one_of(SanctionLevel.values))
    reason = serializers.CharField()
    system_version = serializers.UUIDField(source="system_version_id", allow_null=True)
    created_at = serializers.DateTimeField()
    lifted_at = serializers.DateTimeField(allow_null=True)
    lift_reason = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="SanctionInput")
class SanctionInput(serializers.Serializer[Any]):
    lab = serializers.UUIDField()
    reason = serializers.CharField(max_length=2000)
    system_version = serializers.UUIDField(required=False, allow_null=True, default=None)


class SanctionListApi(APIView):
    permission_classes = [IsAuthenticated, RegulatorWrites]
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="sanction_list",
        parameters=[OpenApiParameter("lab", OpenApiTypes.UUID)],
        responses={200: SanctionOutput(many=True), **ERRORS},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        lab = request.query_params.get("lab")
        if lab is not None:
            lab = serializers.UUIDField().run_validation(lab)
        return paginated(self, selectors.sanction_list(actor=actor_of(request), lab_id=lab), SanctionOutput)

    @extend_schema(
        operation_id="sanction_issue",
        request=SanctionInput,
        responses={201: SanctionOutput, **ERRORS},
        tags=TAGS,
        description=(
            "The regulator sanctions a lab. The level escalates with the lab's sanctions in the window: warning, "
            "then an extra audit of the named system version, then suspension of stage advancement. By default "
            "a sanction is a decision of two regulator users: this one-person endpoint then answers 409 "
            "second_regulator_required; propose it at POST /api/regulator-decisions."
        ),
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        data = SanctionInput(data=request.data)
        data.is_valid(raise_exception=True)
        lab = selectors.lab_for_sanction(actor=actor, pk=data.validated_data["lab"])
        sv_pk = data.validated_data["system_version"]
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=sv_pk) if sv_pk else None
        sanction = services.sanction_issue(
            actor=actor, lab=lab, reason=data.validated_data["reason"], system_version=system_version
        )
        return Response(SanctionOutput(sanction).data, status=201)


class SanctionDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="sanction_get", responses={200: SanctionOutput, **ERRORS}, tags=TAGS)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(SanctionOutput(selectors.sanction_get(actor=actor_of(request), pk=pk)).data)


class SanctionLiftApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="sanction_lift", request=ReleaseReasonInput, responses={200: SanctionOutput, **ERRORS}, tags=TAGS
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        sanction = selectors.sanction_get(actor=actor, pk=pk)
        data = ReleaseReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            SanctionOutput(
                services.sanction_lift(actor=actor, sanction=sanction, reason=data.validated_data["reason"])
            ).data
        )


# --- two people at the regulator (deploy.decisions) ----------------------------


@extend_schema_serializer(component_name="RegulatorDecision")
class RegulatorDecisionOutput(serializers.Serializer[RegulatorDecision]):
    id = serializers.UUIDField()
    kind = serializers.CharField(help_text=one_of(DecisionKind.values))
    status = serializers.CharField(help_text=one_of(DecisionStatus.values))
    reason = serializers.CharField()
    proposed_by = serializers.CharField(source="proposed_by.username")
    created_at = serializers.DateTimeField(help_text="When it was proposed")
    lab = serializers.UUIDField(source="lab_id", allow_null=True)
    system_version = serializers.UUIDField(source="system_version_id", allow_null=True)
    finding = serializers.UUIDField(source="finding_id", allow_null=True)
    to_stage = serializers.IntegerField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()
    result_id = serializers.CharField(help_text="What it made when it took effect: a sanction, finding or release id")
    log_index = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="RegulatorDecisionInput")
class RegulatorDecisionInput(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=DecisionKind.choices)
    reason = serializers.CharField(max_length=2000)
    lab = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="A sanction's lab")
    system_version = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="A long halt's system, or an extra-audit sanction's"
    )
    finding = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="A risk acceptance's")
    to_stage = serializers.IntegerField(
        min_value=0, max_value=3, required=False, allow_null=True, default=None, help_text="A long halt's lower stage"
    )


class RegulatorDecisionListApi(APIView):
    permission_classes = [IsAuthenticated, RegulatorWrites]
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="regulator_decision_list",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=DecisionStatus.values)],
        responses={200: RegulatorDecisionOutput(many=True), **ERRORS},
        tags=TAGS,
        description="Proposals of two-person decisions and what became of them (the regulator only; others see none).",
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in DecisionStatus.values:
            raise InvalidInput(
                "Unknown status.", errors={"status": [f"Must be one of: {', '.join(DecisionStatus.values)}."]}
            )
        qs = selectors.regulator_decision_list(actor=actor_of(request), status=status)
        return paginated(self, qs, RegulatorDecisionOutput)

    @extend_schema(
        operation_id="regulator_decision_propose",
        request=RegulatorDecisionInput,
        responses={201: RegulatorDecisionOutput, **ERRORS},
        tags=TAGS,
        description=(
            "A regulator user proposes a long halt (`system_version`, `to_stage`), a sanction (`lab`, and "
            "`system_version` when it would be an extra audit) or a risk acceptance (`finding`). Nothing takes "
            "effect until a different regulator user approves it."
        ),
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        data = RegulatorDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        lab = selectors.lab_for_sanction(actor=actor, pk=v["lab"]) if v["lab"] else None
        sv = (
            selectors.system_version_for_release(actor=actor, system_version_pk=v["system_version"])
            if v["system_version"]
            else None
        )
        finding = selectors.finding_for_decision(actor=actor, pk=v["finding"]) if v["finding"] else None
        decision = decisions.regulator_decision_propose(
            actor=actor,
            kind=v["kind"],
            reason=v["reason"],
            lab=lab,
            system_version=sv,
            finding=finding,
            to_stage=v["to_stage"],
        )
        return Response(RegulatorDecisionOutput(decision).data, status=201)


class RegulatorDecisionDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="regulator_decision_get", responses={200: RegulatorDecisionOutput, **ERRORS}, tags=TAGS)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(RegulatorDecisionOutput(selectors.regulator_decision_get(actor=actor_of(request), pk=pk)).data)


def _decision_view(verb: str, service: Any, description: str) -> type[APIView]:
    class View(APIView):
        permission_classes = [IsAuthenticated]

        @extend_schema(
            operation_id=f"regulator_decision_{verb}",
            request=ReleaseReasonInput,
            responses={200: RegulatorDecisionOutput, **ERRORS},
            tags=TAGS,
            description=description,
        )
        def post(self, request: Request, pk: Any) -> Response:
            actor = actor_of(request)
            decision = selectors.regulator_decision_get(actor=actor, pk=pk)
            data = ReleaseReasonInput(data=request.data)
            data.is_valid(raise_exception=True)
            return Response(
                RegulatorDecisionOutput(
                    service(actor=actor, decision=decision, reason=data.validated_data["reason"])
                ).data
            )

    View.__name__ = View.__qualname__ = f"RegulatorDecision{verb.title()}Api"
    return View


RegulatorDecisionApproveApi = _decision_view(
    "approve",
    decisions.regulator_decision_approve,
    "A regulator user other than the proposer approves: the decision takes effect now, with its own audit event "
    "and transparency-log entry, and the approval is logged (403 proposer_cannot_approve for the proposer).",
)
RegulatorDecisionRejectApi = _decision_view(
    "reject",
    decisions.regulator_decision_reject,
    "A regulator user rejects a pending decision (the proposer's own rejection withdraws it); it never takes effect.",
)
