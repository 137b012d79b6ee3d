"""API for a person's own notifications: the inbox and marking one read."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERRORS, CreatedCursorPagination, one_of, paginated
from notifications import selectors, services
from notifications.models import Notification, NotificationKind

TAGS = ["notifications"]


@extend_schema_serializer(component_name="Notification")
class NotificationOutput(serializers.Serializer[Notification]):
    id = serializers.UUIDField()
    kind = serializers.CharField(help_text=one_of(NotificationKind.values))
    title = serializers.CharField()
    body = serializers.CharField()
    link = serializers.CharField(help_text="The portal page it is about")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationListApi(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedCursorPagination

    class FilterSerializer(serializers.Serializer[Any]):
        unread = serializers.BooleanField(required=False, default=False, help_text="Only unread ones")

    @extend_schema(
        operation_id="notifications_list",
        parameters=[FilterSerializer],
        responses={200: NotificationOutput(many=True), **ERRORS},
        tags=TAGS,
        description="The caller's own notifications, newest first.",
    )
    def get(self, request: Request) -> Response:
        f = self.FilterSerializer(data=request.query_params)
        f.is_valid(raise_exception=True)
        qs = selectors.notification_list(user=request.user, unread_only=f.validated_data["unread"])
        return paginated(self, qs, NotificationOutput)


class NotificationReadApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="notification_read",
        request=None,
        responses={200: NotificationOutput, **ERRORS},
        tags=TAGS,
        description="Mark one of the caller's notifications read; anyone else's is 404.",
    )
    def post(self, request: Request, pk: Any) -> Response:
        notification = selectors.notification_get(user=request.user, pk=pk)
        notification = services.notification_mark_read(user=request.user, notification=notification)
        return Response(NotificationOutput(notification).data)
