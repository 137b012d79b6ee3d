"""Suites, evaluation runs, their progress, results, plot and transcripts."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auditing.selectors import audit_get
from core.api import ERRORS, CreatedCursorPagination, IdCursorPagination, actor_of, paginated
from core.errors import Conflict, InvalidInput
from evals import selectors, services
from evals.engine import registry
from evals.models import EvalRun, EvalSample


class SuiteOutput(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    risk_area = serializers.CharField()
    capability_kind = serializers.CharField()
    grader_version = serializers.CharField()
    content_digest = serializers.CharField()
    conditions = serializers.ListField(child=serializers.CharField())
    default_conditions = serializers.ListField(child=serializers.CharField())
    default_samples = serializers.IntegerField()
    metrics = serializers.ListField(child=serializers.CharField())
    maturity = serializers.CharField(help_text='"gating", or "smoke_test": reported, never deciding a gate.')


class SuiteListApi(APIView):
    @extend_schema(operation_id="suites_list", tags=["evaluations"], responses={200: SuiteOutput(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(SuiteOutput(list(registry().values()), many=True).data)


class ProgressOutput(serializers.Serializer[Any]):
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    error = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    finished = serializers.IntegerField()


class EvalRunOutput(serializers.ModelSerializer[EvalRun]):
    suite = serializers.CharField(source="suite.name")
    suite_version = serializers.CharField(source="suite.version")
    progress = serializers.SerializerMethodField()
    under_protocol = serializers.BooleanField(
        read_only=True, help_text="Made under the standard's protocol: counts at gates. Otherwise exploratory."
    )

    class Meta:
        model = EvalRun
        fields = [
            "id",
            "suite",
            "suite_version",
            "audit",
            "system_version",
            "organisation",
            "status",
            "conditions",
            "samples_per_condition",
            "temperature",
            "top_p",
            "max_tokens",
            "seed_policy",
            "source",
            "under_protocol",
            "protocol_digest",
            "standard",
            "created_at",
            "finished_at",
            "progress",
            "results",
            "results_digest",
        ]

    @extend_schema_field(ProgressOutput)
    def get_progress(self, run: EvalRun) -> dict[str, int]:
        return selectors.eval_run_progress(run=run)


class EvalRunStartInput(serializers.Serializer[Any]):
    audit = serializers.UUIDField()
    suite = serializers.CharField(max_length=100)
    protocol = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Run under the standard's protocol for the suite (settings come from the protocol, none may be "
        "given); only such runs count at gates. Without it the run is exploratory.",
    )
    conditions = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=200)
    samples_per_condition = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, help_text="Exploratory runs: default 0.9.")
    top_p = serializers.FloatField(required=False, help_text="Exploratory runs: default 1.")
    max_tokens = serializers.IntegerField(required=False, help_text="Exploratory runs: default 512.")
    grader_model = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=200,
        help_text="Gateway model id of an LLM judge to label the graded moments beside the rules",
    )
    grader_token = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=200,
        write_only=True,
        help_text="Your gateway token that may call the grader model (encrypted at rest, never shown)",
    )


class EvalRunListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="eval_runs_list",
        tags=["evaluations"],
        parameters=[OpenApiParameter("audit", OpenApiTypes.UUID)],
        responses={200: EvalRunOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        audit = request.query_params.get("audit")
        if audit is not None:
            audit = str(serializers.UUIDField().run_validation(audit))
        return paginated(self, selectors.eval_run_list(actor=actor_of(request), audit_id=audit), EvalRunOutput)

    @extend_schema(
        operation_id="eval_runs_start",
        tags=["evaluations"],
        request=EvalRunStartInput,
        responses={201: EvalRunOutput, **ERRORS},
        description="An assigned auditor starts a suite against the audit's system version; samples run on Celery.",
    )
    def post(self, request: Request) -> Response:
        s = EvalRunStartInput(data=request.data)
        s.is_valid(raise_exception=True)
        actor = actor_of(request)
        data = dict(s.validated_data)
        audit = audit_get(actor=actor, pk=data.pop("audit"))
        run = services.eval_run_start(actor=actor, audit=audit, **data)
        return Response(EvalRunOutput(run).data, status=status.HTTP_201_CREATED)


class EvalRunDetailApi(APIView):
    @extend_schema(operation_id="eval_runs_retrieve", tags=["evaluations"], responses={200: EvalRunOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(EvalRunOutput(selectors.eval_run_get(actor=actor_of(request), pk=pk)).data)


class EvalRunCancelApi(APIView):
    @extend_schema(
        operation_id="eval_runs_cancel", tags=["evaluations"], request=None, responses={200: EvalRunOutput, **ERRORS}
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        run = selectors.eval_run_get(actor=actor, pk=pk)
        return Response(EvalRunOutput(services.eval_run_cancel(actor=actor, run=run)).data)


class EvalRunPlotApi(APIView):
    @extend_schema(
        operation_id="eval_runs_plot",
        tags=["evaluations"],
        parameters=[OpenApiParameter("metric", str, many=True, description="Metrics to plot (default: all)")],
        responses={(200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY), **ERRORS},
    )
    def get(self, request: Request, pk: Any) -> HttpResponse:
        from evals.results import results_plot_svg

        run = selectors.eval_run_get(actor=actor_of(request), pk=pk)
        if not run.results:
            raise Conflict("The run has no results yet.", code="run_not_finished")
        metrics = request.query_params.getlist("metric") or None
        known = set(run.suite.metrics) | {"error_rate"}
        if metrics and not set(metrics) <= known:
            raise InvalidInput("Unknown metric.", errors={"metric": [f"One of: {', '.join(sorted(known))}."]})
        return HttpResponse(results_plot_svg(results=run.results, metrics=metrics), content_type="image/svg+xml")


class EvalSampleOutput(serializers.ModelSerializer[EvalSample]):
    class Meta:
        model = EvalSample
        fields = [
            "id",
            "condition",
            "index",
            "status",
            "attempts",
            "labels",
            "grade",
            "calls",
            "error",
            "transcript",
            "started_at",
            "finished_at",
        ]


class EvalSampleListApi(APIView):
    pagination_class = IdCursorPagination

    @extend_schema(
        operation_id="eval_samples_list",
        tags=["evaluations"],
        parameters=[OpenApiParameter("condition", str)],
        responses={200: EvalSampleOutput(many=True), **ERRORS},
        description="Transcripts with their labels and gateway digests: the running organisation and the regulator.",
    )
    def get(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        run = selectors.eval_run_get(actor=actor, pk=pk)
        qs = selectors.eval_sample_list(actor=actor, run=run, condition=request.query_params.get("condition"))
        return paginated(self, qs, EvalSampleOutput)


class EvalSampleDetailApi(APIView):
    @extend_schema(
        operation_id="eval_samples_retrieve", tags=["evaluations"], responses={200: EvalSampleOutput, **ERRORS}
    )
    def get(self, request: Request, pk: Any, sample_pk: int) -> Response:
        actor = actor_of(request)
        run = selectors.eval_run_get(actor=actor, pk=pk)
        return Response(EvalSampleOutput(selectors.eval_sample_get(actor=actor, run=run, pk=sample_pk)).data)
