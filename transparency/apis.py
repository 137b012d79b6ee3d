"""The public record over HTTP: the latest signed tree head, entries, and
inclusion and consistency proofs. Readable by every signed-in user."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, actor_of
from transparency import selectors
from transparency.models import LogEntry, SignedTreeHead
from transparency.signing import log_public_key_pem

TAGS = ["transparency log"]
READ_ERRORS = {k: v for k, v in ERRORS.items() if k in (400, 401, 404)}


@extend_schema_serializer(component_name="SignedTreeHead")
class TreeHeadOutput(serializers.Serializer[SignedTreeHead]):
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="RFC 6962 tree head, hex.")
    timestamp = serializers.IntegerField(help_text="Milliseconds since the Unix epoch.")
    signature = serializers.CharField(
        help_text='Base64 Ed25519 signature over the RFC 8785 JSON of {"log": "stagegate", "root_hash", '
        '"timestamp", "tree_size"}.'
    )
    key_id = serializers.CharField(help_text="SHA-256 hex of the raw log public key.")
    public_key = serializers.SerializerMethodField(help_text="The log's Ed25519 public key, PEM.")

    def get_public_key(self, obj: SignedTreeHead) -> str:
        return log_public_key_pem()


class TreeHeadApi(APIView):
    @extend_schema(
        operation_id="log_tree_head",
        tags=TAGS,
        responses={200: TreeHeadOutput, **READ_ERRORS},
        description="The latest signed tree head of the transparency log.",
    )
    def get(self, request: Request) -> Response:
        return Response(TreeHeadOutput(selectors.tree_head_latest(actor=actor_of(request))).data)


@extend_schema_serializer(component_name="LogEntry")
class EntryOutput(serializers.Serializer[LogEntry]):
    index = serializers.IntegerField()
    leaf = serializers.SerializerMethodField(help_text="The leaf bytes (RFC 8785 JSON), base64.")
    leaf_hash = serializers.CharField(help_text="SHA-256(0x00 ‖ leaf), hex.")
    kind = serializers.CharField(help_text="What happened, e.g. signoff.accept.")
    subject_type = serializers.CharField()
    subject_id = serializers.CharField()
    logged_at = serializers.DateTimeField()

    def get_leaf(self, obj: LogEntry) -> str:
        return selectors.leaf_base64(obj)


class EntryApi(APIView):
    @extend_schema(
        operation_id="log_entry", tags=TAGS, responses={200: EntryOutput, **READ_ERRORS}, description="One leaf."
    )
    def get(self, request: Request, index: int) -> Response:
        return Response(EntryOutput(selectors.entry_get(actor=actor_of(request), index=index)).data)


@extend_schema_serializer(component_name="InclusionProof")
class InclusionOutput(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    audit_path = serializers.ListField(child=serializers.CharField(), help_text="Hex hashes, leaf's sibling first.")
    tree_head = TreeHeadOutput()


class InclusionProofApi(APIView):
    @extend_schema_serializer(component_name="InclusionProofQuery")
    class FilterSerializer(serializers.Serializer[Any]):
        index = serializers.IntegerField(min_value=0)
        tree_size = serializers.IntegerField(min_value=1)

    @extend_schema(
        operation_id="log_inclusion_proof",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: InclusionOutput, **READ_ERRORS},
        description="RFC 6962 audit path of leaf `index` in the tree of `tree_size` leaves.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        proof = selectors.inclusion_proof(actor=actor_of(request), **f.validated_data)
        return Response(InclusionOutput(proof).data)


@extend_schema_serializer(component_name="ConsistencyProof")
class ConsistencyOutput(serializers.Serializer[Any]):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="Hex hashes (RFC 6962 §2.1.2 order).")
    first_tree_head = TreeHeadOutput()
    second_tree_head = TreeHeadOutput()


class ConsistencyProofApi(APIView):
    @extend_schema_serializer(component_name="ConsistencyProofQuery")
    class FilterSerializer(serializers.Serializer[Any]):
        first = serializers.IntegerField(min_value=1)
        second = serializers.IntegerField(min_value=1)

    @extend_schema(
        operation_id="log_consistency_proof",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: ConsistencyOutput, **READ_ERRORS},
        description="RFC 6962 proof that the tree of `second` leaves extends the tree of `first` leaves.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        proof = selectors.consistency_proof(actor=actor_of(request), **f.validated_data)
        return Response(ConsistencyOutput(proof).data)
