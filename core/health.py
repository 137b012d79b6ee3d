"""Liveness and readiness of one web process: can it reach the database and Redis?

Load balancers and the run script poll this without credentials, so it names
the failing part but never repeats an error message (which could leak hosts or
credentials from the connection URLs)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.redis_client import redis_client

logger = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"
REDIS_TIMEOUT_S = 1.0


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except Exception:
        logger.exception("health: database check failed")
        return False


def redis_ok() -> bool:
    try:
        return bool(redis_client(settings.REDIS_URL, REDIS_TIMEOUT_S).ping())
    except Exception:
        logger.warning("health: Redis check failed", exc_info=True)
        return False


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="Health")
    class OutputSerializer(serializers.Serializer[dict[str, str]]):
        # Plain strings, not enums: a "status" enum would collide with the
        # status enums of domain objects in the schema.
        status = serializers.CharField(help_text='"ok" or "unavailable"')
        database = serializers.CharField(help_text='"ok" or "unavailable"')
        redis = serializers.CharField(help_text='"ok" or "unavailable"')

    @extend_schema(
        operation_id="health_retrieve",
        summary="Whether this web process can reach the database and Redis",
        tags=["health"],
        auth=[],
        responses={
            200: OutputSerializer,
            503: OpenApiResponse(OutputSerializer, description="The database or Redis (named) is unavailable"),
        },
    )
    def get(self, request: Request) -> Response:
        parts = {"database": database_ok(), "redis": redis_ok()}
        healthy = all(parts.values())
        body = {"status": OK if healthy else UNAVAILABLE}
        body.update({name: OK if up else UNAVAILABLE for name, up in parts.items()})
        return Response(self.OutputSerializer(body).data, status=200 if healthy else 503)
