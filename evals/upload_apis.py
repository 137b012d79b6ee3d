"""Bring your own run: upload an Inspect log made through the gateway, and
list and read the accepted uploads of an audit."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auditing.selectors import audit_get
from core.api import ERRORS, PROBLEM, CreatedCursorPagination, actor_of, paginated
from core.permissions import VIEW, get_for
from evals import uploads
from evals.models import EvalLogUpload


class UploadOutput(serializers.ModelSerializer[EvalLogUpload]):
    suite = serializers.CharField(source="suite.name", allow_null=True, default=None)
    suite_version = serializers.CharField(source="suite.version", allow_null=True, default=None)
    counts_at_gates = serializers.SerializerMethodField(
        help_text="Always false: an uploaded run is exploratory; only protocol runs made by Stagegate count at gates."
    )
    note = serializers.SerializerMethodField()

    class Meta:
        model = EvalLogUpload
        fields = [
            "id",
            "audit",
            "system_version",
            "organisation",
            "uploaded_by",
            "token",
            "filename",
            "format",
            "sha256",
            "size",
            "task",
            "suite",
            "suite_version",
            "run",
            "counts_at_gates",
            "note",
            "log_started_at",
            "log_completed_at",
            "samples",
            "calls",
            "report",
            "created_at",
        ]

    def get_counts_at_gates(self, upload: EvalLogUpload) -> bool:
        return False

    def get_note(self, upload: EvalLogUpload) -> str:
        return uploads.UPLOADED_NOTE


class UploadInput(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="The Inspect log (.eval or .json) as `inspect eval` wrote it")
    token = serializers.UUIDField(
        help_text="The id of the gateway token the run's calls used (one fresh token per run)"
    )


class InspectLogListApi(APIView):
    pagination_class = CreatedCursorPagination
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="inspect_logs_list",
        tags=["evaluations"],
        responses={200: UploadOutput(many=True), **ERRORS},
        description="The audit's accepted uploads: the uploading organisation and the regulator.",
    )
    def get(self, request: Request, audit_id: Any) -> Response:
        actor = actor_of(request)
        audit = audit_get(actor=actor, pk=audit_id)
        qs = EvalLogUpload.objects.visible_to(actor, VIEW).filter(audit=audit).select_related("suite")
        return paginated(self, qs, UploadOutput)

    @extend_schema(
        operation_id="inspect_logs_upload",
        tags=["evaluations"],
        request={"multipart/form-data": UploadInput},
        responses={201: UploadOutput, 413: PROBLEM, **ERRORS},
        description="Upload an Inspect log run on your own machine through the gateway. It is accepted only if "
        "every model call in it matches the gateway's access log for the named token (same token, digests, time "
        "order; no call missing, none the gateway never saw); a registered suite's samples are re-scored by "
        "Stagegate into an uploaded run, which is exploratory and never counts at gates. A refusal is a 400 whose "
        "`code` says why (docs/evals.md, 'Bring your own run').",
    )
    def post(self, request: Request, audit_id: Any) -> Response:
        actor = actor_of(request)
        audit = audit_get(actor=actor, pk=audit_id)
        # Who may upload, and how much, is settled before the body is read.
        uploads.upload_organisation(actor=actor, audit=audit)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > uploads.upload_max_bytes() + 64 * 1024:
            raise uploads.UploadTooLarge(f"The log is larger than {uploads.upload_max_bytes()} bytes.")
        s = UploadInput(data=request.data)
        s.is_valid(raise_exception=True)
        file = s.validated_data["file"]
        if file.size is not None and file.size > uploads.upload_max_bytes():
            raise uploads.UploadTooLarge(f"The log is larger than {uploads.upload_max_bytes()} bytes.")
        upload = uploads.inspect_log_upload(
            actor=actor, audit=audit, token=s.validated_data["token"], data=file.read(), filename=file.name or ""
        )
        return Response(UploadOutput(upload).data, status=status.HTTP_201_CREATED)


class InspectLogDetailApi(APIView):
    @extend_schema(operation_id="inspect_logs_retrieve", tags=["evaluations"], responses={200: UploadOutput, **ERRORS})
    def get(self, request: Request, audit_id: Any, pk: Any) -> Response:
        actor = actor_of(request)
        audit = audit_get(actor=actor, pk=audit_id)
        upload = get_for(EvalLogUpload.objects.filter(audit=audit).select_related("suite"), actor, pk, VIEW)
        return Response(UploadOutput(upload).data)
