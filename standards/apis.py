"""API for standards: anyone signed in reads published standards; the regulator
drafts and publishes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, CodeField, CreatedCursorPagination, RegulatorWrites, actor_of, paginated
from standards import selectors, services
from standards.models import IncidentKind, RiskArea, Standard, StandardStatus, SuiteRequirement, SuiteTrigger
from standards.protocols import DECISION_RULE, SEED_POLICIES, Protocol

TAGS = ["standards"]


# Outputs


@extend_schema_serializer(component_name="StandardSuiteRequirement")
class SuiteRequirementOutput(serializers.Serializer[SuiteRequirement]):
    suite = serializers.CharField()
    min_suite_version = serializers.CharField()
    stage = serializers.IntegerField(help_text="The stage the suite must be passed before entering (1–3).")
    trigger = serializers.CharField(help_text=f"One of: {', '.join(SuiteTrigger.values)}.")
    affordance = serializers.CharField(source="affordance_id", allow_null=True)
    risk_area = serializers.CharField(help_text=f"One of: {', '.join(RiskArea.values)}.")
    threshold_metric = serializers.CharField()
    threshold_max = serializers.FloatField()
    gates = serializers.BooleanField(
        help_text="False for a suite that is required and reported but does not decide the gate (a smoke test)."
    )


@extend_schema_serializer(component_name="StandardIncidentKind")
class IncidentKindOutput(serializers.Serializer[IncidentKind]):
    key = serializers.CharField()
    name = serializers.CharField()
    reporting_deadline_days = serializers.IntegerField()
    serious = serializers.BooleanField()
    suspends_stage = serializers.BooleanField()


@extend_schema_serializer(component_name="StandardSummary")
class StandardSummaryOutput(serializers.Serializer[Standard]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField(help_text=f"One of: {', '.join(StandardStatus.values)}.")
    summary = serializers.CharField()
    in_force_from = serializers.DateTimeField(allow_null=True)
    internal_signoffs_required = serializers.IntegerField()
    auditor_signoffs_required = serializers.IntegerField()
    distinct_auditor_orgs_required = serializers.IntegerField()
    stage2_customer_cap = serializers.IntegerField()
    monitoring_period_days = serializers.IntegerField()
    online_learning_signoff_expiry_days = serializers.IntegerField()
    auditor_rotation_limit = serializers.IntegerField()
    content_digest = serializers.CharField(help_text="SHA-256 of the canonical requirements; empty for drafts.")
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="ProtocolSampling")
class ProtocolSamplingSerializer(serializers.Serializer[Any]):
    temperature = serializers.FloatField(min_value=0, max_value=2)
    top_p = serializers.FloatField(min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(min_value=1, max_value=8192)
    seed_policy = CodeField([(p, p) for p in SEED_POLICIES])


@extend_schema_serializer(component_name="SuiteProtocol")
class ProtocolSerializer(serializers.Serializer[Any]):
    """How a required suite must be run for its results to count at a gate."""

    suite = serializers.CharField(max_length=100)
    conditions = serializers.ListField(child=serializers.CharField(max_length=200), max_length=200)
    samples_per_condition = serializers.IntegerField(min_value=1, max_value=1000)
    sampling = ProtocolSamplingSerializer()
    metric = serializers.CharField(max_length=60, help_text="The gated metric.")
    threshold = serializers.FloatField(
        min_value=0, max_value=1, help_text="The upper end of the metric's 95% interval must be within this."
    )
    min_valid_trials = serializers.IntegerField(min_value=1, max_value=1_000_000)
    max_error_rate = serializers.FloatField(min_value=0, max_value=1)
    max_invalid_rate = serializers.FloatField(min_value=0, max_value=1, help_text="Cap at each graded step.")
    step_invalid_caps = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1), required=False, default=dict
    )
    decision_rule = serializers.CharField(required=False, default=DECISION_RULE, help_text=DECISION_RULE)


class ProtocolOutput(ProtocolSerializer):
    digest = serializers.CharField(help_text="SHA-256 of the canonical protocol document; runs and sign-offs cite it.")


@extend_schema_serializer(component_name="Standard")
class StandardOutput(StandardSummaryOutput):
    suites = SuiteRequirementOutput(source="suite_requirements", many=True)
    incident_kinds = IncidentKindOutput(many=True)
    protocols = serializers.SerializerMethodField()

    @extend_schema_field(ProtocolOutput(many=True))
    def get_protocols(self, standard: Standard) -> list[dict[str, Any]]:
        return [
            {**doc, "digest": Protocol.from_document(doc).digest}
            for _, doc in sorted((standard.protocols or {}).items())
        ]


# Inputs shared by nesting


@extend_schema_serializer(component_name="StandardSuiteRequirement")
class StandardSuiteInput(serializers.Serializer[Any]):
    suite = serializers.CharField(max_length=100)
    min_suite_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    stage = serializers.IntegerField(min_value=1, max_value=3, help_text="Stage the suite gates (1–3).")
    trigger = CodeField(SuiteTrigger.choices, required=False, default=SuiteTrigger.ALWAYS)
    affordance = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="Affordance key; required unless the trigger is 'always'.",
    )
    risk_area = CodeField(RiskArea.choices)
    threshold_metric = serializers.CharField(max_length=60)
    threshold_max = serializers.FloatField(min_value=0, max_value=1)
    gates = serializers.BooleanField(
        required=False,
        default=True,
        help_text="False: the suite must be run and its result is reported, but it does not decide the gate.",
    )


@extend_schema_serializer(component_name="StandardIncidentKind")
class StandardIncidentKindInput(serializers.Serializer[Any]):
    key = serializers.SlugField(max_length=60)
    name = serializers.CharField(max_length=200)
    reporting_deadline_days = serializers.IntegerField(min_value=1, max_value=32767)
    serious = serializers.BooleanField(required=False, default=False)
    suspends_stage = serializers.BooleanField(required=False, default=False)


# Views


class StandardListApi(APIView):
    pagination_class = CreatedCursorPagination
    permission_classes = (IsAuthenticated, RegulatorWrites)

    @extend_schema_serializer(component_name="StandardCreate")
    class InputSerializer(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=200)
        version = serializers.CharField(max_length=40)
        summary = serializers.CharField(required=False, allow_blank=True, default="")
        internal_signoffs_required = serializers.IntegerField(min_value=1, max_value=32767, required=False, default=2)
        auditor_signoffs_required = serializers.IntegerField(min_value=1, max_value=32767, required=False, default=2)
        distinct_auditor_orgs_required = serializers.IntegerField(
            min_value=1, max_value=32767, required=False, default=2
        )
        stage2_customer_cap = serializers.IntegerField(
            min_value=1, max_value=2_147_483_647, required=False, default=1000
        )
        monitoring_period_days = serializers.IntegerField(min_value=1, max_value=32767, required=False, default=30)
        online_learning_signoff_expiry_days = serializers.IntegerField(
            min_value=1, max_value=32767, required=False, default=90
        )
        auditor_rotation_limit = serializers.IntegerField(min_value=1, max_value=32767, required=False, default=3)
        suites = StandardSuiteInput(many=True)
        incident_kinds = StandardIncidentKindInput(many=True)
        protocols = ProtocolSerializer(many=True, required=False, default=list)

    @extend_schema(
        operation_id="standards_list",
        tags=TAGS,
        parameters=[OpenApiParameter("status", str, description="Filter by status (drafts: regulator only).")],
        responses={200: StandardSummaryOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        qs = selectors.standard_list(actor=actor_of(request), status=request.query_params.get("status") or None)
        return paginated(self, qs, StandardSummaryOutput)

    @extend_schema(
        operation_id="standards_create",
        tags=TAGS,
        request=InputSerializer,
        responses={201: StandardOutput, **ERRORS},
        description="The regulator drafts a standard. It has no effect until published.",
    )
    def post(self, request: Request) -> Response:
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        standard = services.standard_create(actor=actor_of(request), **s.validated_data)
        return Response(
            StandardOutput(selectors.standard_get(actor=actor_of(request), pk=standard.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class StandardCurrentApi(APIView):
    @extend_schema(operation_id="standards_current", tags=TAGS, responses={200: StandardOutput, **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(StandardOutput(selectors.standard_current(actor=actor_of(request))).data)


class StandardDetailApi(APIView):
    @extend_schema(operation_id="standards_retrieve", tags=TAGS, responses={200: StandardOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(StandardOutput(selectors.standard_get(actor=actor_of(request), pk=pk)).data)


class StandardPublishApi(APIView):
    @extend_schema(
        operation_id="standards_publish",
        tags=TAGS,
        request=None,
        responses={200: StandardOutput, **ERRORS},
        description="The regulator puts a draft in force; the standard in force until now is superseded.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        standard = selectors.standard_get(actor=actor, pk=pk)
        standard = services.standard_publish(actor=actor, standard=standard)
        return Response(StandardOutput(selectors.standard_get(actor=actor, pk=standard.pk)).data)
