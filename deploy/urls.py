from django.urls import path

from deploy import apis

urlpatterns = [
    path("releases/<uuid:system_version_pk>", apis.ReleaseDetailApi.as_view(), name="release-detail"),
    path("releases/<uuid:system_version_pk>/checklist", apis.ReleaseChecklistApi.as_view(), name="release-checklist"),
    path(
        "releases/<uuid:system_version_pk>/gate-requests",
        apis.ReleaseGateRequestsApi.as_view(),
        name="release-gate-requests",
    ),
    path("releases/<uuid:system_version_pk>/halt", apis.ReleaseHaltApi.as_view(), name="release-halt"),
    path("releases/<uuid:system_version_pk>/resume", apis.ReleaseResumeApi.as_view(), name="release-resume"),
    path("gate-requests", apis.GateRequestListApi.as_view(), name="gate-request-list"),
    path("gate-requests/<uuid:pk>", apis.GateRequestDetailApi.as_view(), name="gate-request-detail"),
    path("gate-requests/<uuid:pk>/decide", apis.GateRequestDecideApi.as_view(), name="gate-request-decide"),
    path("gate-requests/<uuid:pk>/withdraw", apis.GateRequestWithdrawApi.as_view(), name="gate-request-withdraw"),
    path("reaudits", apis.ReauditListApi.as_view(), name="reaudit-list"),
    path("reaudits/<uuid:pk>", apis.ReauditDetailApi.as_view(), name="reaudit-detail"),
    path("sanctions", apis.SanctionListApi.as_view(), name="sanction-list"),
    path("sanctions/<uuid:pk>", apis.SanctionDetailApi.as_view(), name="sanction-detail"),
    path("sanctions/<uuid:pk>/lift", apis.SanctionLiftApi.as_view(), name="sanction-lift"),
    path("regulator-decisions", apis.RegulatorDecisionListApi.as_view(), name="regulator-decision-list"),
    path("regulator-decisions/<uuid:pk>", apis.RegulatorDecisionDetailApi.as_view(), name="regulator-decision-detail"),
    path(
        "regulator-decisions/<uuid:pk>/approve",
        apis.RegulatorDecisionApproveApi.as_view(),
        name="regulator-decision-approve",
    ),
    path(
        "regulator-decisions/<uuid:pk>/reject",
        apis.RegulatorDecisionRejectApi.as_view(),
        name="regulator-decision-reject",
    ),
]
