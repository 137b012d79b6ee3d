from django.urls import path

from core import account_apis, apis
from core.health import HealthView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("organisations", apis.OrganisationListApi.as_view(), name="organisation-list"),
    path("organisations/<uuid:pk>", apis.OrganisationDetailApi.as_view(), name="organisation-detail"),
    path("organisations/<uuid:pk>/update", account_apis.OrganisationUpdateApi.as_view(), name="organisation-update"),
    path("accounts", account_apis.AccountCreateApi.as_view(), name="account-create"),
    path(
        "accounts/<str:username>/password-reset",
        account_apis.AccountPasswordResetApi.as_view(),
        name="account-password-reset",
    ),
    path("accounts/<str:username>/deactivate", account_apis.AccountDeactivateApi.as_view(), name="account-deactivate"),
    path("accounts/<str:username>/reactivate", account_apis.AccountReactivateApi.as_view(), name="account-reactivate"),
    path("memberships", apis.MembershipListApi.as_view(), name="membership-list"),
    path("memberships/<uuid:pk>/end", apis.MembershipEndApi.as_view(), name="membership-end"),
    path("memberships/<uuid:pk>/accept", apis.MembershipAcceptApi.as_view(), name="membership-accept"),
    path("tokens", apis.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/<uuid:pk>/revoke", apis.ApiTokenRevokeApi.as_view(), name="token-revoke"),
    path("audit-events", apis.AuditEventListApi.as_view(), name="audit-event-list"),
]
