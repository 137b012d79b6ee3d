"""The public record over HTTP, no sign-in: the log's key, signed tree heads,
entries (with search), inclusion and consistency proofs, each entry's SCITT
receipt (COSE Receipts, RFC 9942), and releases at stage 2 and above.

No session or token is looked at (``authentication_classes = []``), every
call is rate-limited per address (public_record/limits.py), and what
is named by a tree size is served as immutable."""

from __future__ import annotations

import base64
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, PROBLEM
from core.dsse import raw_public_key
from core.errors import InvalidInput
from public_record import limits as public_limits
from public_record import releases as public_releases
from transparency import public_selectors, scitt
from transparency.models import LogEntry, SignedTreeHead
from transparency.signing import log_key_id, log_private_key, log_public_key, log_public_key_pem
from transparency.witness import LOG_ID

TAGS = ["public record"]
PUBLIC_ERRORS = {**{k: v for k, v in ERRORS.items() if k in (400, 404)}, 429: PROBLEM}


class PublicApi(APIView):
    """No credentials read, anyone allowed, rate-limited."""

    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [AllowAny]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        public_limits.rate_take(request._request)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, public_limits.RateLimited):
            response["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return response


def tree_head_dict(sth: SignedTreeHead) -> dict[str, Any]:
    return {
        "log": LOG_ID,
        "tree_size": sth.tree_size,
        "root_hash": sth.root_hash,
        "timestamp": sth.timestamp,
        "signature": sth.signature,
        "key_id": sth.key_id,
    }


def key_dict() -> dict[str, Any]:
    key = log_public_key()
    return {
        "log": LOG_ID,
        "algorithm": "Ed25519",
        "key_id": log_key_id(),
        "public_key": log_public_key_pem(),
        "public_key_raw": base64.b64encode(raw_public_key(key)).decode("ascii"),
    }


def entry_dict(entry: LogEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "kind": entry.kind,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "logged_at": entry.logged_at.isoformat(),
        "leaf_hash": entry.leaf_hash,
        "leaf": base64.b64encode(bytes(entry.leaf)).decode("ascii"),
    }


def entry_summary(entry: LogEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "kind": entry.kind,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "logged_at": entry.logged_at.isoformat(),
        "leaf_hash": entry.leaf_hash,
    }


def _int(request: Request, name: str, *, minimum: int = 0, required: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        if required:
            raise InvalidInput(f"{name} is required.", errors={name: ["This field is required."]})
        return None
    if not str(raw).isdigit() or len(str(raw)) > 18:
        raise InvalidInput(f"{name} must be a whole number.", errors={name: ["A whole number is required."]})
    value = int(str(raw))
    if value < minimum:
        raise InvalidInput(f"{name} is out of range.", errors={name: [f"Must be at least {minimum}."]})
    return value


@extend_schema_serializer(component_name="PublicLogKey")
class KeyOutput(serializers.Serializer[Any]):
    log = serializers.CharField()
    algorithm = serializers.CharField()
    key_id = serializers.CharField(help_text="SHA-256 hex of the raw public key.")
    public_key = serializers.CharField(help_text="PEM (SubjectPublicKeyInfo).")
    public_key_raw = serializers.CharField(help_text="The raw 32-byte Ed25519 key, base64.")


class KeyApi(PublicApi):
    @extend_schema(
        operation_id="public_log_key",
        tags=TAGS,
        auth=[],
        responses={200: KeyOutput, **PUBLIC_ERRORS},
        description="The log's Ed25519 public key: tree heads and receipts verify with it. Pin its key_id.",
    )
    def get(self, request: Request) -> Response:
        return public_limits.cache(Response(key_dict()), public_limits.PAGE)  # type: ignore[return-value]


@extend_schema_serializer(component_name="PublicTreeHead")
class TreeHeadOutput(serializers.Serializer[Any]):
    log = serializers.CharField()
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="RFC 9162 Merkle tree head, hex.")
    timestamp = serializers.IntegerField(help_text="Milliseconds since the Unix epoch.")
    signature = serializers.CharField(
        help_text='Base64 Ed25519 signature over the RFC 8785 JSON of {"log", "root_hash", "timestamp", "tree_size"}.'
    )
    key_id = serializers.CharField()


class TreeHeadLatestApi(PublicApi):
    @extend_schema(
        operation_id="public_log_tree_head",
        tags=TAGS,
        auth=[],
        responses={200: TreeHeadOutput, **PUBLIC_ERRORS},
        description="The latest signed tree head.",
    )
    def get(self, request: Request) -> Response:
        body = tree_head_dict(public_selectors.tree_head_latest())
        return public_limits.cache(Response(body), public_limits.LATEST)  # type: ignore[return-value]


class TreeHeadAtApi(PublicApi):
    @extend_schema(
        operation_id="public_log_tree_head_at",
        tags=TAGS,
        auth=[],
        responses={200: TreeHeadOutput, **PUBLIC_ERRORS},
        description="The signed tree head of the tree of `tree_size` leaves (one is signed for every size).",
    )
    def get(self, request: Request, tree_size: int) -> Response:
        body = tree_head_dict(public_selectors.tree_head_at(tree_size))
        return public_limits.cache(Response(body), public_limits.IMMUTABLE)  # type: ignore[return-value]


@extend_schema_serializer(component_name="PublicLogEntrySummary")
class EntrySummaryOutput(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    kind = serializers.CharField()
    subject_type = serializers.CharField()
    subject_id = serializers.CharField()
    logged_at = serializers.DateTimeField()
    leaf_hash = serializers.CharField()


@extend_schema_serializer(component_name="PublicLogEntryPage")
class EntryPageOutput(serializers.Serializer[Any]):
    results = EntrySummaryOutput(many=True)
    next_before = serializers.IntegerField(allow_null=True, help_text="Pass as `before` for the next page.")


class EntryListApi(PublicApi):
    @extend_schema(
        operation_id="public_log_entries",
        tags=TAGS,
        auth=[],
        parameters=[
            OpenApiParameter("kind", str, description="An exact kind, or a prefix ending in '.'"),
            OpenApiParameter("subject", str, description="`type:id` (e.g. deploy.release:<uuid>) or an id"),
            OpenApiParameter("before", int, description="Only entries with a smaller index"),
            OpenApiParameter("limit", int, description="1–100, default 50"),
        ],
        responses={200: EntryPageOutput, **PUBLIC_ERRORS},
        description="Entries, newest first. `kind`: exact, or a prefix ending in '.'; `subject`: `type:id` or an "
        "id; `before`: an index (the previous page's `next_before`); `limit`: 1–100.",
    )
    def get(self, request: Request) -> Response:
        page = public_selectors.entries_search(
            kind=request.query_params.get("kind", ""),
            subject=request.query_params.get("subject", ""),
            before=_int(request, "before"),
            limit=_int(request, "limit", minimum=1) or public_selectors.DEFAULT_PAGE,
        )
        body = {"results": [entry_summary(e) for e in page.entries], "next_before": page.next_before}
        return public_limits.cache(Response(body), public_limits.LATEST)  # type: ignore[return-value]


@extend_schema_serializer(component_name="PublicLogEntry")
class EntryOutput(EntrySummaryOutput):
    leaf = serializers.CharField(help_text="The leaf bytes (RFC 8785 JSON), base64; leaf_hash = SHA-256(0x00 ‖ leaf).")


class EntryApi(PublicApi):
    @extend_schema(
        operation_id="public_log_entry",
        tags=TAGS,
        auth=[],
        responses={200: EntryOutput, **PUBLIC_ERRORS},
        description="One entry with its leaf bytes.",
    )
    def get(self, request: Request, index: int) -> Response:
        body = entry_dict(public_selectors.entry_at(index))
        return public_limits.cache(Response(body), public_limits.IMMUTABLE)  # type: ignore[return-value]


@extend_schema_serializer(component_name="PublicInclusionProof")
class InclusionOutput(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    audit_path = serializers.ListField(child=serializers.CharField(), help_text="Hex, the leaf's sibling first.")
    tree_head = TreeHeadOutput()


def inclusion_dict(inc: public_selectors.Inclusion) -> dict[str, Any]:
    return {
        "index": inc.entry.index,
        "tree_size": inc.tree_head.tree_size,
        "leaf_hash": inc.entry.leaf_hash,
        "audit_path": [h.hex() for h in inc.audit_path],
        "tree_head": tree_head_dict(inc.tree_head),
    }


class InclusionApi(PublicApi):
    @extend_schema(
        operation_id="public_log_inclusion_proof",
        tags=TAGS,
        auth=[],
        responses={200: InclusionOutput, **PUBLIC_ERRORS},
        description="RFC 9162 §2.1.3 audit path of the entry in the tree of `tree_size` leaves (default: the latest "
        "signed tree head), with that head.",
    )
    def get(self, request: Request, index: int) -> Response:
        tree_size = _int(request, "tree_size", minimum=1)
        body = inclusion_dict(public_selectors.inclusion(index=index, tree_size=tree_size))
        policy = public_limits.IMMUTABLE if tree_size else public_limits.LATEST
        return public_limits.cache(Response(body), policy)  # type: ignore[return-value]


def entry_subject(index: int) -> str:
    return f"urn:stagegate:log:{LOG_ID}:entry:{index}"


def receipt_for(inc: public_selectors.Inclusion) -> bytes:
    return scitt.receipt_build(
        key=log_private_key(),
        issuer=LOG_ID,
        subject=entry_subject(inc.entry.index),
        issued_at=inc.tree_head.timestamp // 1000,
        tree_size=inc.tree_head.tree_size,
        leaf_index=inc.entry.index,
        audit_path=inc.audit_path,
        root=bytes.fromhex(inc.tree_head.root_hash),
    )


class ReceiptApi(PublicApi):
    # The receipt is bytes, not a rendered body: any Accept is answered (an
    # error is problem JSON), never a 406 for asking for COSE.
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="public_log_receipt",
        tags=TAGS,
        auth=[],
        responses={
            (200, "application/cose"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, scitt.SCITT_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY),
            **PUBLIC_ERRORS,
        },
        description="The entry's inclusion proof as a SCITT receipt: a COSE_Sign1 (RFC 9052) signed with the log's "
        "Ed25519 key (alg -8), vds 1 (RFC9162_SHA256), the proof in unprotected header 396 / -1 (RFC 9942 §5.2), "
        "detached payload (the tree head). Deterministic CBOR. `tree_size` as for the inclusion proof. Served as "
        'application/cose; cose-type="cose-sign1", or application/scitt-receipt+cose when asked for.',
    )
    def get(self, request: Request, index: int) -> HttpResponse:
        tree_size = _int(request, "tree_size", minimum=1)
        inc = public_selectors.inclusion(index=index, tree_size=tree_size)
        accept = request.META.get("HTTP_ACCEPT", "")
        media = scitt.SCITT_MEDIA_TYPE if scitt.SCITT_MEDIA_TYPE in accept else scitt.MEDIA_TYPE
        response = HttpResponse(receipt_for(inc), content_type=media)
        response["Content-Disposition"] = f'attachment; filename="stagegate-entry-{index}.receipt"'
        policy = public_limits.IMMUTABLE if tree_size else public_limits.LATEST
        public_limits.cache(response, policy)
        return response


@extend_schema_serializer(component_name="PublicConsistencyProof")
class ConsistencyOutput(serializers.Serializer[Any]):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="Hex hashes (RFC 9162 §2.1.4).")
    first_tree_head = TreeHeadOutput()
    second_tree_head = TreeHeadOutput()


def consistency_dict(c: public_selectors.Consistency) -> dict[str, Any]:
    return {
        "first": c.first.tree_size,
        "second": c.second.tree_size,
        "proof": [h.hex() for h in c.proof],
        "first_tree_head": tree_head_dict(c.first),
        "second_tree_head": tree_head_dict(c.second),
    }


class ConsistencyApi(PublicApi):
    @extend_schema(
        operation_id="public_log_consistency_proof",
        tags=TAGS,
        auth=[],
        responses={200: ConsistencyOutput, **PUBLIC_ERRORS},
        description="RFC 9162 §2.1.4 proof that the tree of `second` leaves extends the tree of `first` leaves, "
        "with both signed heads.",
    )
    def get(self, request: Request) -> Response:
        first = _int(request, "first", minimum=1, required=True) or 0
        second = _int(request, "second", minimum=1, required=True) or 0
        body = consistency_dict(public_selectors.consistency(first=first, second=second))
        return public_limits.cache(Response(body), public_limits.IMMUTABLE)  # type: ignore[return-value]


class ReleaseListApi(PublicApi):
    @extend_schema(
        operation_id="public_releases",
        tags=TAGS,
        auth=[],
        responses={200: OpenApiTypes.OBJECT, **PUBLIC_ERRORS},
        description="System versions at stage 2 (limited release) and above. `q` searches system and lab names; "
        "`stage`: 2 or 3; `page`.",
    )
    def get(self, request: Request) -> Response:
        page = public_releases.release_list(
            q=request.query_params.get("q", ""),
            stage=_int(request, "stage"),
            page=_int(request, "page", minimum=1) or 1,
        )
        body = {
            "count": page.count,
            "page": page.number,
            "pages": page.num_pages,
            "results": [r.as_dict() for r in page.releases],
        }
        return public_limits.cache(Response(body), public_limits.PAGE)  # type: ignore[return-value]


class ReleaseApi(PublicApi):
    @extend_schema(
        operation_id="public_release",
        tags=TAGS,
        auth=[],
        responses={200: OpenApiTypes.OBJECT, **PUBLIC_ERRORS},
        description="One public release: where it stands, the regulator's decisions and its logged history.",
    )
    def get(self, request: Request, system_version: str) -> Response:
        detail = public_releases.release_get(system_version_id=system_version)
        body = {
            **detail.release.as_dict(),
            "release": detail.release_id,
            "decisions": [d.as_dict() for d in detail.decisions],
            "history": [h.as_dict() for h in detail.history],
        }
        return public_limits.cache(Response(body), public_limits.PAGE)  # type: ignore[return-value]
