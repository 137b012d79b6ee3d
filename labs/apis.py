"""HTTP API for labs: the affordance catalogue, model versions and system versions.

One APIView per operation. Where one path serves two operations (GET lists and
POST creates), a routing class inherits both operation views; each operation
names its own serializers explicitly, so the composition cannot mix them up.

No response ever carries an endpoint credential or its ciphertext; the
endpoint itself is shown to the lab and the regulator only, because auditors
reach the model through the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, CreatedCursorPagination, actor_of, paginated
from core.models import Organisation
from core.permissions import VIEW, get_for
from labs import selectors, services
from labs.models import ModelVersion, SystemVersion

TAGS = ["labs"]


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


# Upper bounds on free text, so one request cannot store megabytes. System
# prompts can legitimately run to tens of thousands of tokens.
MAX_NOTES = 20_000
MAX_SUMMARY = 5_000
MAX_SCAFFOLDING = 50_000
MAX_PROMPT = 400_000
MAX_CREDENTIAL = 4_096


class StrictInput(serializers.Serializer):
    """An input serializer that refuses fields it does not know, so a typo (or
    an attempt to set ``lab`` on an update) is a 400 naming it, not silently
    ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class VisibleModelVersionField(serializers.PrimaryKeyRelatedField):
    """A model version the requesting actor may see; any other id reads as
    "does not exist" (400 on the field), telling nothing about other labs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(pk_field=serializers.UUIDField(), **kwargs)

    def get_queryset(self) -> Any:
        return ModelVersion.objects.visible_to(actor_of(self.context["request"]), VIEW)


def _lab_for(request: Request, lab_id: UUID) -> Organisation:
    # Labs are public organisations: another lab is visible (the service then
    # answers 403); an organisation the actor cannot see is 404.
    return get_for(Organisation.objects.all(), actor_of(request), lab_id, VIEW)


# --- output serializers (shared by the operations) -------------------------


class AffordanceOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()


class AffordanceEdgeOutput(serializers.Serializer):
    # A field named "source" shadows Field.source in the type stubs only; DRF
    # moves declared fields off the class.
    source = serializers.CharField(source="source_id")  # type: ignore[assignment]
    target = serializers.CharField(source="target_id")
    rationale = serializers.CharField()


class AffordanceCatalogueOutput(serializers.Serializer):
    affordances = AffordanceOutput(many=True)
    edges = AffordanceEdgeOutput(many=True)


class ModelVersionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    lab = serializers.UUIDField(source="lab_id")
    name = serializers.CharField()
    version = serializers.CharField()
    weights_digest = serializers.CharField()
    parameter_count = serializers.IntegerField()
    training_compute_flop = serializers.FloatField()
    notes = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SystemVersionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    lab = serializers.UUIDField(source="lab_id")
    name = serializers.CharField()
    sequence = serializers.IntegerField()
    predecessor = serializers.UUIDField(source="predecessor_id", allow_null=True)
    change_summary = serializers.CharField()
    model_version = serializers.UUIDField(source="model_version_id")
    affordances = serializers.SerializerMethodField(help_text="Declared affordance keys, sorted")
    scaffolding = serializers.CharField()
    system_prompt = serializers.CharField()
    system_prompt_digest = serializers.CharField()
    content_filters = serializers.ListField(child=serializers.CharField())
    declared_tools = serializers.ListField(
        child=serializers.CharField(), help_text="Function names the system offers its model, sorted"
    )
    online_learning = serializers.BooleanField()
    endpoint_base_url = serializers.CharField(
        required=False, help_text="Shown to the lab and the regulator; auditors use the gateway."
    )
    endpoint_model = serializers.CharField(
        required=False, help_text="Shown to the lab and the regulator; auditors use the gateway."
    )
    has_credential = serializers.BooleanField()
    configuration_digest = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()

    ENDPOINT_FIELDS = ("endpoint_base_url", "endpoint_model")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_affordances(self, instance: SystemVersion) -> list[str]:
        # Sorted in Python so a prefetched relation is used as is.
        return sorted(a.key for a in instance.affordances.all())

    def to_representation(self, instance: SystemVersion) -> dict[str, Any]:
        data = super().to_representation(instance)
        request = self.context.get("request")
        actor = actor_of(request) if request is not None else None
        if actor is None or not (actor.is_regulator or instance.lab_id in actor.lab_ids):
            for name in self.ENDPOINT_FIELDS:
                data.pop(name, None)
        return data


class SystemVersionSummaryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    sequence = serializers.IntegerField()
    change_summary = serializers.CharField()
    configuration_digest = serializers.CharField()
    created_at = serializers.DateTimeField()


class ContextualAffordanceOutput(serializers.Serializer):
    affordance = serializers.CharField()
    name = serializers.CharField()


class ReachableAffordanceOutput(serializers.Serializer):
    affordance = serializers.CharField()
    name = serializers.CharField()
    path = serializers.ListField(
        child=serializers.CharField(), help_text="From a declared affordance to this one, both included"
    )


class SystemVersionAffordancesOutput(serializers.Serializer):
    contextual = ContextualAffordanceOutput(many=True)
    reachable = ReachableAffordanceOutput(many=True)


class SystemVersionLineageOutput(serializers.Serializer):
    predecessors = SystemVersionSummaryOutput(many=True, help_text="Oldest first")
    successors = SystemVersionSummaryOutput(many=True, help_text="Oldest first")


# --- affordances -----------------------------------------------------------


class AffordanceCatalogueApi(APIView):
    @extend_schema(
        operation_id="affordances_catalogue",
        summary="The affordance catalogue and what each affordance lets a system reach",
        tags=TAGS,
        responses={200: AffordanceCatalogueOutput, **_errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(AffordanceCatalogueOutput(selectors.affordance_catalogue()).data)


# --- model versions --------------------------------------------------------


class ModelVersionListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="ModelVersionListFilter")
    class FilterSerializer(serializers.Serializer):
        lab = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="model_versions_list",
        summary="Model versions the caller may see",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: ModelVersionOutput(many=True), **_errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = ModelVersionListApi.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        qs = selectors.model_version_list(actor=actor_of(request), lab_id=filters.validated_data.get("lab"))
        return paginated(self, qs, ModelVersionOutput)


class ModelVersionCreateApi(APIView):
    @extend_schema_serializer(component_name="ModelVersionCreateInput")
    class InputSerializer(StrictInput):
        lab = serializers.UUIDField()
        name = serializers.CharField(max_length=120)
        version = serializers.CharField(max_length=60)
        weights_digest = serializers.CharField(max_length=64, help_text="SHA-256 of the weights, lowercase hex")
        parameter_count = serializers.IntegerField(min_value=1)
        training_compute_flop = serializers.FloatField(min_value=0, help_text="Training compute in FLOP")
        notes = serializers.CharField(max_length=MAX_NOTES, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="model_versions_create",
        summary="Register a model version (lab admins and engineers)",
        tags=TAGS,
        request=InputSerializer,
        responses={201: ModelVersionOutput, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        data = ModelVersionCreateApi.InputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        lab = _lab_for(request, fields.pop("lab"))
        mv = services.model_version_create(actor=actor_of(request), lab=lab, **fields)
        return Response(ModelVersionOutput(mv).data, status=status.HTTP_201_CREATED)


class ModelVersionDetailApi(APIView):
    @extend_schema(
        operation_id="model_versions_retrieve",
        summary="One model version",
        tags=TAGS,
        responses={200: ModelVersionOutput, **_errors(401, 404)},
    )
    def get(self, request: Request, pk: UUID) -> Response:
        mv = selectors.model_version_get(actor=actor_of(request), pk=pk)
        return Response(ModelVersionOutput(mv).data)


class ModelVersionUpdateApi(APIView):
    @extend_schema_serializer(component_name="ModelVersionUpdateInput")
    class InputSerializer(StrictInput):
        name = serializers.CharField(max_length=120, required=False)
        version = serializers.CharField(max_length=60, required=False)
        weights_digest = serializers.CharField(max_length=64, required=False)
        parameter_count = serializers.IntegerField(min_value=1, required=False)
        training_compute_flop = serializers.FloatField(min_value=0, required=False)
        notes = serializers.CharField(max_length=MAX_NOTES, required=False, allow_blank=True)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs:
                raise serializers.ValidationError("Give at least one field to change.")
            return attrs

    @extend_schema(
        operation_id="model_versions_partial_update",
        summary="Correct a model version (until an audit references a system built on it)",
        tags=TAGS,
        request=InputSerializer,
        responses={200: ModelVersionOutput, **_errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request: Request, pk: UUID) -> Response:
        data = ModelVersionUpdateApi.InputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        actor = actor_of(request)
        mv = selectors.model_version_get(actor=actor, pk=pk)
        mv = services.model_version_update(actor=actor, model_version=mv, **data.validated_data)
        return Response(ModelVersionOutput(mv).data)


# /model-versions: GET lists, POST creates.
class ModelVersionsApi(ModelVersionListApi, ModelVersionCreateApi):
    pass


# /model-versions/<pk>: GET reads, PATCH corrects.
class ModelVersionApi(ModelVersionDetailApi, ModelVersionUpdateApi):
    pass


# --- system versions -------------------------------------------------------


class SystemVersionListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema_serializer(component_name="SystemVersionListFilter")
    class FilterSerializer(serializers.Serializer):
        lab = serializers.UUIDField(required=False)
        name = serializers.CharField(required=False, max_length=120)
        model_version = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="system_versions_list",
        summary="System versions the caller may see",
        tags=TAGS,
        parameters=[FilterSerializer],
        responses={200: SystemVersionOutput(many=True), **_errors(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = SystemVersionListApi.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        qs = selectors.system_version_list(
            actor=actor_of(request),
            lab_id=f.get("lab"),
            name=f.get("name"),
            model_version_id=f.get("model_version"),
        )
        return paginated(self, qs, SystemVersionOutput)


class SystemVersionCreateApi(APIView):
    @extend_schema_serializer(component_name="SystemVersionCreateInput")
    class InputSerializer(StrictInput):
        lab = serializers.UUIDField()
        model_version = VisibleModelVersionField()
        name = serializers.CharField(max_length=120)
        affordances = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True)
        scaffolding = serializers.CharField(max_length=MAX_SCAFFOLDING, required=False, allow_blank=True, default="")
        system_prompt = serializers.CharField(
            max_length=MAX_PROMPT, required=False, allow_blank=True, default="", trim_whitespace=False
        )
        content_filters = serializers.ListField(
            child=serializers.CharField(max_length=200),
            required=False,
            default=list,
            help_text="Filter pipeline, in order",
        )
        declared_tools = serializers.ListField(
            child=serializers.CharField(max_length=64),
            required=False,
            default=list,
            max_length=256,
            help_text="Function names the system offers its model (needs the tool_use affordance); from stage 2 "
            "the gateway refuses a call that offers any other",
        )
        online_learning = serializers.BooleanField(required=False, default=False)
        endpoint_base_url = serializers.CharField(max_length=500)
        endpoint_model = serializers.CharField(max_length=200)
        endpoint_credential = serializers.CharField(
            required=False,
            write_only=True,
            max_length=MAX_CREDENTIAL,
            trim_whitespace=False,
            style={"input_type": "password"},
            help_text="Encrypted at rest; never shown again",
        )
        change_summary = serializers.CharField(max_length=MAX_SUMMARY, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="system_versions_create",
        summary="Register the first version of a new system (lab admins and engineers)",
        tags=TAGS,
        request=InputSerializer,
        responses={201: SystemVersionOutput, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        data = SystemVersionCreateApi.InputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        lab = _lab_for(request, fields.pop("lab"))
        sv = services.system_version_create(actor=actor_of(request), lab=lab, **fields)
        return Response(SystemVersionOutput(sv, context={"request": request}).data, status=status.HTTP_201_CREATED)


# /system-versions: GET lists, POST creates the first version of a system.
class SystemVersionsApi(SystemVersionListApi, SystemVersionCreateApi):
    pass


class SystemVersionDetailApi(APIView):
    @extend_schema(
        operation_id="system_versions_retrieve",
        summary="One system version",
        tags=TAGS,
        responses={200: SystemVersionOutput, **_errors(401, 404)},
    )
    def get(self, request: Request, pk: UUID) -> Response:
        sv = selectors.system_version_get(actor=actor_of(request), pk=pk)
        return Response(SystemVersionOutput(sv, context={"request": request}).data)


class SystemVersionReviseApi(APIView):
    @extend_schema_serializer(component_name="SystemVersionReviseInput")
    class InputSerializer(StrictInput):
        change_summary = serializers.CharField(max_length=MAX_SUMMARY)
        model_version = VisibleModelVersionField(required=False)
        affordances = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
        scaffolding = serializers.CharField(max_length=MAX_SCAFFOLDING, required=False, allow_blank=True)
        system_prompt = serializers.CharField(
            max_length=MAX_PROMPT, required=False, allow_blank=True, trim_whitespace=False
        )
        content_filters = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
        declared_tools = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, max_length=256
        )
        online_learning = serializers.BooleanField(required=False)
        endpoint_base_url = serializers.CharField(max_length=500, required=False)
        endpoint_model = serializers.CharField(max_length=200, required=False)
        endpoint_credential = serializers.CharField(
            required=False,
            write_only=True,
            max_length=MAX_CREDENTIAL,
            trim_whitespace=False,
            style={"input_type": "password"},
            help_text="A new credential; the predecessor's carries over if omitted",
        )

    @extend_schema(
        operation_id="system_versions_revise",
        summary="Make the next version of a system (never edits the given one)",
        tags=TAGS,
        request=InputSerializer,
        responses={201: SystemVersionOutput, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = SystemVersionReviseApi.InputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        actor = actor_of(request)
        current = selectors.system_version_get(actor=actor, pk=pk)
        new = services.system_version_revise(actor=actor, system_version=current, **changes)
        return Response(SystemVersionOutput(new, context={"request": request}).data, status=status.HTTP_201_CREATED)


class SystemVersionCredentialApi(APIView):
    @extend_schema_serializer(component_name="SystemVersionCredentialInput")
    class InputSerializer(StrictInput):
        credential = serializers.CharField(
            write_only=True,
            max_length=MAX_CREDENTIAL,
            trim_whitespace=False,
            style={"input_type": "password"},
            help_text="The new upstream credential; encrypted at rest, never shown",
        )

    @extend_schema(
        operation_id="system_versions_credential_rotate",
        summary="Replace the upstream endpoint credential in place (no new version)",
        tags=TAGS,
        request=InputSerializer,
        responses={204: OpenApiResponse(description="Rotated"), **_errors(400, 401, 403, 404)},
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = SystemVersionCredentialApi.InputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        actor = actor_of(request)
        sv = selectors.system_version_get(actor=actor, pk=pk)
        services.system_version_credential_rotate(
            actor=actor, system_version=sv, credential=data.validated_data["credential"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SystemVersionAffordancesApi(APIView):
    @extend_schema(
        operation_id="system_versions_affordances",
        summary="Contextual and reachable affordances of a system version",
        tags=TAGS,
        responses={200: SystemVersionAffordancesOutput, **_errors(401, 404)},
    )
    def get(self, request: Request, pk: UUID) -> Response:
        sv = selectors.system_version_get(actor=actor_of(request), pk=pk)
        return Response(SystemVersionAffordancesOutput(selectors.system_version_affordances(system_version=sv)).data)


class SystemVersionLineageApi(APIView):
    @extend_schema(
        operation_id="system_versions_lineage",
        summary="Earlier and later versions of the same system that the caller may see",
        tags=TAGS,
        responses={200: SystemVersionLineageOutput, **_errors(401, 404)},
    )
    def get(self, request: Request, pk: UUID) -> Response:
        actor = actor_of(request)
        sv = selectors.system_version_get(actor=actor, pk=pk)
        lineage = selectors.system_version_lineage(actor=actor, system_version=sv)
        return Response(SystemVersionLineageOutput(lineage).data)
