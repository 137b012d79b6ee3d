"""API for releases: read the stage and status; the regulator moves the stage,
halts and resumes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, actor_of, one_of
from deploy import selectors, services
from deploy.models import Release, ReleaseStatus
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


@extend_schema_serializer(component_name="ReleaseStageInput")
class ReleaseStageInput(serializers.Serializer[Any]):
    stage = serializers.IntegerField(min_value=0, max_value=3)
    reason = serializers.CharField(max_length=2000)


@extend_schema_serializer(component_name="ReleaseReasonInput")
class ReleaseReasonInput(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)


class ReleaseDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="release_get", responses={200: ReleaseOutput, **ERRORS}, tags=TAGS)
    def get(self, request: Request, system_version_pk: Any) -> Response:
        release = selectors.release_get(actor=actor_of(request), system_version_pk=system_version_pk)
        return Response(ReleaseOutput(release).data)


class ReleaseStageApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="release_stage_set",
        request=ReleaseStageInput,
        responses={200: ReleaseOutput, **ERRORS},
        tags=TAGS,
        description="The regulator moves the release to a stage (interim: issue 6 adds the gates in front).",
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=system_version_pk)
        data = ReleaseStageInput(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_stage_set(
            actor=actor,
            system_version=system_version,
            stage=data.validated_data["stage"],
            reason=data.validated_data["reason"],
        )
        return Response(ReleaseOutput(release).data)


class ReleaseHaltApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="release_halt",
        request=ReleaseReasonInput,
        responses={200: ReleaseOutput, **ERRORS},
        tags=TAGS,
        description="The regulator halts the release: every gateway token of the system version stops at once.",
    )
    def post(self, request: Request, system_version_pk: Any) -> Response:
        actor = actor_of(request)
        system_version = selectors.system_version_for_release(actor=actor, system_version_pk=system_version_pk)
        data = ReleaseReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_halt(
            actor=actor, system_version=system_version, reason=data.validated_data["reason"]
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
