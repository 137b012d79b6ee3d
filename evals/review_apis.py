"""API for the review queue (evals/reviews.py): list a run's judge/rules
disagreements and resolve one."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, IdCursorPagination, actor_of, one_of, paginated
from core.errors import InvalidInput
from evals import selectors
from evals.models import LabelReview, LabelReviewStatus
from evals.reviews import (
    REASON_MAX,
    label_review_get,
    label_review_list,
    label_review_resolve,
    require_may_resolve,
)

# --- API ----------------------------------------------------------------------------


class LabelReviewOutput(serializers.ModelSerializer[LabelReview]):
    sample = serializers.IntegerField(source="sample_id")
    condition = serializers.CharField(source="sample.condition")
    index = serializers.IntegerField(source="sample.index")
    resolved_by = serializers.CharField(source="resolved_by.username", default=None)

    class Meta:
        model = LabelReview
        fields = [
            "id",
            "sample",
            "condition",
            "index",
            "moment",
            "rules_label",
            "judge_label",
            "judge_reasoning",
            "status",
            "resolved_label",
            "reason",
            "resolved_by",
            "resolved_at",
            "created_at",
        ]


class LabelReviewResolveInput(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=40)  # type: ignore[assignment]  # a field named like Field.label
    reason = serializers.CharField(max_length=REASON_MAX)


class LabelReviewListApi(APIView):
    pagination_class = IdCursorPagination

    @extend_schema(
        operation_id="label_reviews_list",
        tags=["evaluations"],
        parameters=[OpenApiParameter("status", str, enum=[s.value for s in LabelReviewStatus])],
        responses={200: LabelReviewOutput(many=True), **ERRORS},
        description="Moments where the run's judge and the rules disagree: the running organisation and the regulator.",
    )
    def get(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        run = selectors.eval_run_get(actor=actor, pk=pk)
        status = request.query_params.get("status")
        if status is not None and status not in LabelReviewStatus.values:
            raise InvalidInput("Unknown status.", errors={"status": [one_of(list(LabelReviewStatus.values))]})
        qs = label_review_list(actor=actor, run=run, status=status).select_related("sample", "resolved_by")
        return paginated(self, qs, LabelReviewOutput)


class LabelReviewResolveApi(APIView):
    @extend_schema(
        operation_id="label_reviews_resolve",
        tags=["evaluations"],
        request=LabelReviewResolveInput,
        responses={200: LabelReviewOutput, **ERRORS},
        description="An assigned auditor of the running organisation settles a disagreement with a label and a reason.",
    )
    def post(self, request: Request, pk: Any, review_pk: int) -> Response:
        actor = actor_of(request)
        run = selectors.eval_run_get(actor=actor, pk=pk)
        review = label_review_get(actor=actor, run=run, pk=review_pk)
        require_may_resolve(actor=actor, run=run)  # refused before the body is read
        s = LabelReviewResolveInput(data=request.data)
        s.is_valid(raise_exception=True)
        review = label_review_resolve(actor=actor, review=review, **s.validated_data)
        return Response(LabelReviewOutput(review).data)


urlpatterns = [
    path("eval-runs/<uuid:pk>/label-reviews", LabelReviewListApi.as_view(), name="label-review-list"),
    path(
        "eval-runs/<uuid:pk>/label-reviews/<int:review_pk>/resolve",
        LabelReviewResolveApi.as_view(),
        name="label-review-resolve",
    ),
]
