"""Gateway token and access-log endpoints, mounted under /api/."""

from django.urls import path

from gateway import apis

urlpatterns = [
    path("gateway-tokens", apis.GatewayTokenListApi.as_view(), name="gateway-token-list"),
    path("gateway-tokens/<uuid:pk>", apis.GatewayTokenDetailApi.as_view(), name="gateway-token-detail"),
    path("gateway-tokens/<uuid:pk>/accept", apis.GatewayTokenAcceptApi.as_view(), name="gateway-token-accept"),
    path("gateway-tokens/<uuid:pk>/revoke", apis.GatewayTokenRevokeApi.as_view(), name="gateway-token-revoke"),
    path("gateway-calls", apis.GatewayCallListApi.as_view(), name="gateway-call-list"),
]
