from django.urls import path

from core import apis
from core.health import HealthView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("organisations", apis.OrganisationListApi.as_view(), name="organisation-list"),
    path("organisations/<uuid:pk>", apis.OrganisationDetailApi.as_view(), name="organisation-detail"),
    path("memberships", apis.MembershipListApi.as_view(), name="membership-list"),
    path("memberships/<uuid:pk>/end", apis.MembershipEndApi.as_view(), name="membership-end"),
    path("memberships/<uuid:pk>/accept", apis.MembershipAcceptApi.as_view(), name="membership-accept"),
    path("tokens", apis.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/<uuid:pk>/revoke", apis.ApiTokenRevokeApi.as_view(), name="token-revoke"),
    path("audit-events", apis.AuditEventListApi.as_view(), name="audit-event-list"),
]
