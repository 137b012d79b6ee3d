"""API for incidents (report, read, the lab's report, the regulator's
confirm / resolve / dismiss) and whistleblower reports (the regulator's key,
anonymous submission, the regulator's queue and triage). One view per URL;
each method parses, calls one service or selector and serialises."""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.api import ERRORS, PROBLEM, CreatedCursorPagination, RegulatorWrites, actor_of, one_of, paginated
from core.permissions import VIEW
from labs.models import SystemVersion
from monitoring import hpke, limits, selectors, services
from monitoring.models import (
    Incident,
    IncidentStatus,
    ReporterKind,
    WhistleblowerKey,
    WhistleblowerKeyStatus,
    WhistleblowerReport,
    WhistleblowerReportStatus,
)

TAGS = ["monitoring"]
WB_TAGS = ["whistleblower"]


@extend_schema_field(OpenApiTypes.UUID)
class ReportableSystemVersionField(serializers.PrimaryKeyRelatedField):
    """A system version the actor may report on; any other is 'does not exist'."""

    def get_queryset(self) -> Any:
        return selectors.system_versions_reportable(actor=actor_of(self.context["request"]))


@extend_schema_field(OpenApiTypes.UUID)
class VisibleSystemVersionField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> Any:
        return SystemVersion.objects.visible_to(actor_of(self.context["request"]), VIEW)


# Incidents


def _sees_lab_report(actor: Actor, incident: Incident) -> bool:
    """The lab's account is for the regulator, the lab and its auditors, not
    for a customer that reported."""
    return bool(actor.is_regulator or incident.system_version.lab_id in actor.lab_ids or actor.auditor_org_ids)


@extend_schema_serializer(component_name="Incident")
class IncidentOutput(serializers.Serializer[Incident]):
    id = serializers.UUIDField()
    system_version = serializers.UUIDField(source="system_version_id")
    system_version_name = serializers.CharField(source="system_version.__str__")
    lab = serializers.UUIDField(source="system_version.lab_id")
    kind = serializers.CharField(source="kind.key", help_text="The incident kind's key in its standard.")
    kind_name = serializers.CharField(source="kind.name")
    reporting_deadline_days = serializers.IntegerField(source="kind.reporting_deadline_days")
    serious = serializers.BooleanField()
    suspends_stage = serializers.BooleanField(source="kind.suspends_stage")
    reporter_kind = serializers.CharField(help_text=one_of(ReporterKind.values))
    reported_by = serializers.SerializerMethodField(help_text="Username; null for a whistleblower's report.")
    reporter_organisation = serializers.UUIDField(source="reporter_organisation_id", allow_null=True)
    title = serializers.CharField()
    description = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    aware_at = serializers.DateTimeField(help_text="When the reporter learnt of it.")
    stage = serializers.IntegerField(help_text="The release's stage when reported.")
    deadline_at = serializers.DateTimeField(help_text="aware_at plus the kind's reporting deadline.")
    late = serializers.BooleanField(help_text="Reported after deadline_at (binding when the lab reported).")
    status = serializers.CharField(help_text=one_of(IncidentStatus.values))
    confirmed_at = serializers.DateTimeField(allow_null=True)
    confirmation_note = serializers.CharField()
    resolved_at = serializers.DateTimeField(allow_null=True, help_text="Set when resolved or dismissed.")
    resolution_note = serializers.CharField()
    lab_report_due_at = serializers.DateTimeField(help_text="When the lab's own report is (or was) due.")
    lab_reported_at = serializers.DateTimeField(allow_null=True)
    lab_report = serializers.SerializerMethodField(
        help_text="The lab's account, for the regulator, the lab and auditors (null for others)."
    )
    lab_report_late = serializers.BooleanField(allow_null=True)
    overdue = serializers.SerializerMethodField(help_text="The lab's report is owed and past due, now.")
    overdue_flagged_at = serializers.DateTimeField(allow_null=True)
    suspended_release_at = serializers.DateTimeField(
        allow_null=True, help_text="When this incident suspended the release, if it did."
    )
    reaudit = serializers.UUIDField(source="reaudit_id", allow_null=True, help_text="The re-audit it opened.")
    log_index = serializers.IntegerField(allow_null=True, help_text="Log entry of the report.")
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_reported_by(self, obj: Incident) -> str | None:
        return obj.reported_by.get_username() if obj.reported_by is not None else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_lab_report(self, obj: Incident) -> str | None:
        return obj.lab_report if _sees_lab_report(actor_of(self.context["request"]), obj) else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_overdue(self, obj: Incident) -> bool:
        return obj.is_overdue()


def _incident(request: Request, actor: Actor, pk: Any, code: int = status.HTTP_200_OK) -> Response:
    incident = selectors.incident_get(actor=actor, pk=pk)
    return Response(IncidentOutput(incident, context={"request": request}).data, status=code)


class IncidentListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="IncidentFilter")
    class FilterSerializer(serializers.Serializer[Any]):
        system_version = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=IncidentStatus.choices, required=False)
        serious = serializers.BooleanField(required=False, allow_null=True, default=None)
        overdue = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Only those whose lab report is past due."
        )

    @extend_schema_serializer(component_name="IncidentReport")
    class InputSerializer(serializers.Serializer[Any]):
        system_version = ReportableSystemVersionField(
            help_text="Your lab's system, one your organisation audits, or one whose release you are enrolled in."
        )
        kind = serializers.CharField(max_length=60, help_text="An incident kind key of the standard in force.")
        title = serializers.CharField(max_length=200)
        description = serializers.CharField(max_length=50_000)
        occurred_at = serializers.DateTimeField()
        aware_at = serializers.DateTimeField(help_text="When you learnt of it: the deadline counts from here.")

    @extend_schema(
        operation_id="incidents_list",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: IncidentOutput(many=True), **ERRORS},
        description=(
            "Incidents the actor may see: the regulator all; a lab its systems'; an assigned auditor the audited "
            "systems'; a reporter's organisation those it reported."
        ),
    )
    def get(self, request: Request) -> Response:
        actor = actor_of(request)
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.incident_list(
            actor=actor,
            system_version_id=f.validated_data.get("system_version"),
            status=f.validated_data.get("status"),
            serious=f.validated_data.get("serious"),
            overdue=f.validated_data.get("overdue"),
        )
        return paginated(self, qs, IncidentOutput)

    @extend_schema(
        operation_id="incidents_report",
        tags=TAGS,
        request=InputSerializer,
        responses={201: IncidentOutput, **ERRORS},
        description=(
            "Report an incident. A serious one at stage 2 or 3 reported by the lab, an assigned auditor or the "
            "regulator opens a re-audit, and one of a kind that suspends the stage suspends the release, at "
            "once; a customer's waits for the regulator's confirmation."
        ),
    )
    def post(self, request: Request) -> Response:
        actor = actor_of(request)
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        incident = services.incident_report(actor=actor, **s.validated_data)
        return _incident(request, actor, incident.pk, status.HTTP_201_CREATED)


class IncidentDetailApi(APIView):
    @extend_schema(operation_id="incidents_retrieve", tags=TAGS, responses={200: IncidentOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return _incident(request, actor_of(request), pk)


class IncidentLabReportApi(APIView):
    @extend_schema_serializer(component_name="IncidentLabReport")
    class InputSerializer(serializers.Serializer[Any]):
        report = serializers.CharField(max_length=50_000, help_text="The lab's account of the incident.")

    @extend_schema(
        operation_id="incidents_lab_report",
        tags=TAGS,
        request=InputSerializer,
        responses={200: IncidentOutput, **ERRORS},
        description="The system's lab files its own report on an incident someone else reported (once).",
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        incident = selectors.incident_get(actor=actor, pk=pk)
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        services.incident_lab_report(actor=actor, incident=incident, report=s.validated_data["report"])
        return _incident(request, actor, pk)


@extend_schema_serializer(component_name="IncidentConfirm")
class ConfirmInput(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")


@extend_schema_serializer(component_name="IncidentNote")
class NoteInput(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=20_000)


class IncidentConfirmApi(APIView):
    @extend_schema(
        operation_id="incidents_confirm",
        tags=TAGS,
        request=ConfirmInput,
        responses={200: IncidentOutput, **ERRORS},
        description=(
            "The regulator confirms an open incident. A customer's or whistleblower's report of a serious "
            "incident at stage 2 or 3 escalates now (re-audit; suspension for a kind that suspends the stage)."
        ),
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        incident = selectors.incident_get(actor=actor, pk=pk)
        s = ConfirmInput(data=request.data)
        s.is_valid(raise_exception=True)
        services.incident_confirm(actor=actor, incident=incident, note=s.validated_data["note"])
        return _incident(request, actor, pk)


def _close_view(verb: str, service: Any, description: str) -> type[APIView]:
    class View(APIView):
        @extend_schema(
            operation_id=f"incidents_{verb}",
            tags=TAGS,
            request=NoteInput,
            responses={200: IncidentOutput, **ERRORS},
            description=description,
        )
        def post(self, request: Request, pk: Any) -> Response:
            actor = actor_of(request)
            incident = selectors.incident_get(actor=actor, pk=pk)
            s = NoteInput(data=request.data)
            s.is_valid(raise_exception=True)
            service(actor=actor, incident=incident, note=s.validated_data["note"])
            return _incident(request, actor, pk)

    View.__name__ = View.__qualname__ = f"Incident{verb.title()}Api"
    return View


IncidentResolveApi = _close_view(
    "resolve",
    services.incident_resolve,
    "The regulator resolves an incident, with a note. A suspension stays until the regulator resumes the release.",
)
IncidentDismissApi = _close_view(
    "dismiss", services.incident_dismiss, "The regulator dismisses an incident, with a note."
)


# Whistleblower: the regulator's key


@extend_schema_serializer(component_name="WhistleblowerKey")
class WhistleblowerKeyOutput(serializers.Serializer[WhistleblowerKey]):
    keyid = serializers.CharField(help_text="SHA-256 hex of the raw public key.")
    public_key = serializers.CharField(help_text="Base64 of the raw 32-byte X25519 public key (RFC 9180 §7.1.1).")
    status = serializers.CharField(help_text=one_of(WhistleblowerKeyStatus.values))
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)
    log_index = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(component_name="WhistleblowerPublicKey")
class PublicKeyOutput(serializers.Serializer[WhistleblowerKey]):
    keyid = serializers.CharField(help_text="Send it with a sealed report.")
    public_key = serializers.CharField(help_text="Base64 of the raw 32-byte X25519 public key (RFC 9180 §7.1.1).")
    suite = serializers.SerializerMethodField(help_text="The HPKE suite (RFC 9180), base mode, single-shot.")
    kem_id = serializers.SerializerMethodField()
    kdf_id = serializers.SerializerMethodField()
    aead_id = serializers.SerializerMethodField()
    info = serializers.SerializerMethodField(
        help_text=(
            "The HPKE info: these ASCII bytes, then (when the report names a system version) a zero byte and the "
            "system version id as sent. The AAD is empty. Send base64(enc || ciphertext)."
        )
    )
    max_bytes = serializers.SerializerMethodField(help_text="The largest plaintext accepted, in bytes.")
    pad_block = serializers.SerializerMethodField(
        help_text="Before sealing, append 0x80 and zero bytes up to a multiple of this many bytes (ISO/IEC 7816-4), "
        "so the ciphertext's length does not give the report's away; unpadded reports are refused."
    )

    @extend_schema_field(OpenApiTypes.STR)
    def get_suite(self, obj: WhistleblowerKey) -> str:
        return hpke.SUITE_NAME

    @extend_schema_field(OpenApiTypes.INT)
    def get_kem_id(self, obj: WhistleblowerKey) -> int:
        return hpke.SUITE_IDS["kem_id"]

    @extend_schema_field(OpenApiTypes.INT)
    def get_kdf_id(self, obj: WhistleblowerKey) -> int:
        return hpke.SUITE_IDS["kdf_id"]

    @extend_schema_field(OpenApiTypes.INT)
    def get_aead_id(self, obj: WhistleblowerKey) -> int:
        return hpke.SUITE_IDS["aead_id"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_info(self, obj: WhistleblowerKey) -> str:
        return hpke.INFO_PREFIX.decode("ascii")

    @extend_schema_field(OpenApiTypes.INT)
    def get_max_bytes(self, obj: WhistleblowerKey) -> int:
        return int(settings.STAGEGATE_WHISTLEBLOWER_MAX_BYTES)

    @extend_schema_field(OpenApiTypes.INT)
    def get_pad_block(self, obj: WhistleblowerKey) -> int:
        return hpke.PAD_BLOCK


class WhistleblowerPublicKeyApi(APIView):
    # Public, and no session or token is even looked at.
    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="whistleblower_key_retrieve",
        tags=WB_TAGS,
        auth=[],
        responses={200: PublicKeyOutput, 404: PROBLEM},
        description="The regulator's active key and how to seal a report to it. No sign-in.",
    )
    def get(self, request: Request) -> Response:
        return Response(PublicKeyOutput(selectors.whistleblower_key_active()).data)


class WhistleblowerKeyListApi(APIView):
    pagination_class = CreatedCursorPagination
    permission_classes = (IsAuthenticated, RegulatorWrites)

    @extend_schema_serializer(component_name="WhistleblowerKeyRegister")
    class InputSerializer(serializers.Serializer[Any]):
        public_key = serializers.CharField(
            max_length=64, help_text="Base64 of the raw 32-byte X25519 public key (stagegate-sign whistle-keygen)."
        )

    @extend_schema(
        operation_id="whistleblower_keys_list",
        tags=WB_TAGS,
        responses={200: WhistleblowerKeyOutput(many=True), **ERRORS},
        description="The regulator's keys, the active one and those retired (empty for anyone else).",
    )
    def get(self, request: Request) -> Response:
        return paginated(self, selectors.whistleblower_key_list(actor=actor_of(request)), WhistleblowerKeyOutput)

    @extend_schema(
        operation_id="whistleblower_keys_register",
        tags=WB_TAGS,
        request=InputSerializer,
        responses={201: WhistleblowerKeyOutput, **ERRORS},
        description="The regulator registers the key reports are sealed to; the previous one is retired.",
    )
    def post(self, request: Request) -> Response:
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        key = services.whistleblower_key_register(actor=actor_of(request), public_key=s.validated_data["public_key"])
        return Response(WhistleblowerKeyOutput(key).data, status=status.HTTP_201_CREATED)


# Whistleblower: reports


@extend_schema_serializer(component_name="WhistleblowerReport")
class ReportOutput(serializers.Serializer[WhistleblowerReport]):
    id = serializers.UUIDField()
    received_on = serializers.DateField(help_text="The day it arrived (UTC); no time of day is kept.")
    keyid = serializers.CharField(source="key.keyid", help_text="The key it is sealed to.")
    system_version = serializers.UUIDField(
        source="system_version_id", allow_null=True, help_text="The cleartext hint, bound into the HPKE info."
    )
    sealed = serializers.SerializerMethodField(help_text="Base64 of enc || ciphertext.")
    sealed_sha256 = serializers.CharField()
    status = serializers.CharField(help_text=one_of(WhistleblowerReportStatus.values))
    incident = serializers.SerializerMethodField(help_text="The incident it was triaged into.")
    triaged_at = serializers.DateTimeField(allow_null=True, help_text="When it was triaged or set aside.")
    set_aside_reason = serializers.CharField(help_text="Why it was set aside (empty otherwise).")

    @extend_schema_field(OpenApiTypes.STR)
    def get_sealed(self, obj: WhistleblowerReport) -> str:
        return base64.b64encode(bytes(obj.sealed)).decode("ascii")

    @extend_schema_field(OpenApiTypes.UUID)
    def get_incident(self, obj: WhistleblowerReport) -> str | None:
        incident = getattr(obj, "incident", None)
        return str(incident.pk) if incident is not None else None


@extend_schema_serializer(component_name="WhistleblowerReceipt")
class ReceiptOutput(serializers.Serializer[WhistleblowerReport]):
    id = serializers.UUIDField()
    received_on = serializers.DateField()
    sealed_sha256 = serializers.CharField(help_text="SHA-256 of what is stored: keep it to check the regulator got it.")


class ReportPagination(CreatedCursorPagination):
    # By day, then by the random id: nothing about the order of arrival.
    ordering = ("-received_on", "id")


class AnonymousOnPost(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method == "POST" or bool(request.user and request.user.is_authenticated)


class WhistleblowerReportListApi(APIView):
    """GET: the regulator's queue. POST: anonymous submission. For POST no
    authenticator runs, so a session cookie or token sent along is ignored
    and never even looked up."""

    pagination_class = ReportPagination
    permission_classes = [AnonymousOnPost]

    def get_authenticators(self) -> list[BaseAuthentication]:
        # self.request is the Django request here (View.setup); DRF's comes later.
        if getattr(self, "request", None) is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    @extend_schema_serializer(component_name="WhistleblowerReportFilter")
    class FilterSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=WhistleblowerReportStatus.choices, required=False)

    @extend_schema_serializer(component_name="WhistleblowerSubmission")
    class InputSerializer(serializers.Serializer[Any]):
        system_version = serializers.UUIDField(
            required=False, allow_null=True, default=None, help_text="Optional, in clear: which system it is about."
        )
        sealed = serializers.CharField(
            required=False,
            allow_null=True,
            default=None,
            max_length=200_000,
            help_text="Base64 of HPKE enc || ciphertext, sealed to the active key (GET /api/whistleblower/key).",
        )
        keyid = serializers.RegexField(
            r"^[0-9a-f]{64}$", required=False, allow_null=True, default=None, help_text="The key it is sealed to."
        )
        plaintext = serializers.CharField(
            required=False,
            allow_null=True,
            default=None,
            max_length=200_000,
            trim_whitespace=False,
            help_text="Or the report in clear, sealed by the service at once and kept nowhere.",
        )

    @extend_schema(
        operation_id="whistleblower_reports_list",
        tags=WB_TAGS,
        parameters=[FilterSerializer],
        responses={200: ReportOutput(many=True), **ERRORS},
        description="The regulator's queue of sealed reports (empty for anyone else). Open them with "
        "stagegate-sign whistle-decrypt.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.whistleblower_report_list(actor=actor_of(request), status=f.validated_data.get("status"))
        return paginated(self, qs, ReportOutput)

    @extend_schema(
        operation_id="whistleblower_reports_submit",
        tags=WB_TAGS,
        auth=[],
        request=InputSerializer,
        responses={201: ReceiptOutput, 400: PROBLEM, 409: PROBLEM, 429: PROBLEM, 503: PROBLEM},
        description=(
            "Anonymous: no sign-in, and any session or token sent is ignored. Nothing about the sender is kept "
            "(no user, address, user agent or time of day: only the date). Send a report sealed to the "
            "regulator's key, or plaintext that is sealed at once. Rate-limited service-wide."
        ),
    )
    @sensitive_variables()
    def post(self, request: Request) -> Response:
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        try:
            report = services.whistleblower_report_submit(
                system_version_id=data["system_version"],
                sealed=data["sealed"],
                keyid=data["keyid"],
                plaintext=data["plaintext"],
                # Only to key a two-minute flood counter (monitoring.limits); never stored.
                source=str(request.META.get("REMOTE_ADDR") or ""),
            )
        except limits.RateLimited as e:
            response = Response(
                {"type": "urn:stagegate:problem:rate_limited", "title": "Too many requests", "status": 429,
                 "detail": e.detail, "code": e.code},
                status=429,
                content_type="application/problem+json",
            )  # fmt: skip
            response["Retry-After"] = str(e.extra.get("retry_after", 60))
            return response
        return Response(ReceiptOutput(report).data, status=status.HTTP_201_CREATED)


class WhistleblowerReportDetailApi(APIView):
    @extend_schema(operation_id="whistleblower_reports_retrieve", tags=WB_TAGS, responses={200: ReportOutput, **ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(ReportOutput(selectors.whistleblower_report_get(actor=actor_of(request), pk=pk)).data)


class WhistleblowerReportTriageApi(APIView):
    @extend_schema_serializer(component_name="WhistleblowerTriage")
    class InputSerializer(serializers.Serializer[Any]):
        system_version = VisibleSystemVersionField()
        kind = serializers.CharField(max_length=60, help_text="An incident kind key of the standard in force.")
        title = serializers.CharField(max_length=200, help_text="The regulator's words: the lab reads them.")
        description = serializers.CharField(max_length=50_000)
        occurred_at = serializers.DateTimeField()
        aware_at = serializers.DateTimeField(help_text="When the regulator learnt of it (the report's arrival).")

    @extend_schema(
        operation_id="whistleblower_reports_triage",
        tags=WB_TAGS,
        request=InputSerializer,
        responses={201: IncidentOutput, **ERRORS},
        description=(
            "The regulator records the incident a report describes (reporter kind whistleblower, no reporter). "
            "It is open until the regulator confirms it."
        ),
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        report = selectors.whistleblower_report_get(actor=actor, pk=pk)
        s = self.InputSerializer(data=request.data, context={"request": request})
        s.is_valid(raise_exception=True)
        incident = services.whistleblower_report_triage(actor=actor, report=report, **s.validated_data)
        return _incident(request, actor, incident.pk, status.HTTP_201_CREATED)


class WhistleblowerReportSetAsideApi(APIView):
    @extend_schema_serializer(component_name="WhistleblowerSetAside")
    class InputSerializer(serializers.Serializer[Any]):
        reason = serializers.CharField(
            max_length=500, help_text="Why it describes no incident (the regulator's own note; no one else reads it)."
        )

    @extend_schema(
        operation_id="whistleblower_reports_set_aside",
        tags=WB_TAGS,
        request=InputSerializer,
        responses={200: ReportOutput, **ERRORS},
        description=(
            "The regulator, having opened a report, sets it aside: junk, a duplicate, out of scope. It leaves "
            "the queue with no incident (so nothing reaches the lab); the reason stays with the report."
        ),
    )
    def post(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        report = selectors.whistleblower_report_get(actor=actor, pk=pk)
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        report = services.whistleblower_report_set_aside(actor=actor, report=report, reason=s.validated_data["reason"])
        return Response(ReportOutput(report).data)
