from django.urls import path

from monitoring import apis

urlpatterns = [
    path("incidents", apis.IncidentListApi.as_view(), name="incident-list"),
    path("incidents/<uuid:pk>", apis.IncidentDetailApi.as_view(), name="incident-detail"),
    path("incidents/<uuid:pk>/lab-report", apis.IncidentLabReportApi.as_view(), name="incident-lab-report"),
    path("incidents/<uuid:pk>/confirm", apis.IncidentConfirmApi.as_view(), name="incident-confirm"),
    path("incidents/<uuid:pk>/resolve", apis.IncidentResolveApi.as_view(), name="incident-resolve"),
    path("incidents/<uuid:pk>/dismiss", apis.IncidentDismissApi.as_view(), name="incident-dismiss"),
    path("whistleblower/key", apis.WhistleblowerPublicKeyApi.as_view(), name="whistleblower-key"),
    path("whistleblower/keys", apis.WhistleblowerKeyListApi.as_view(), name="whistleblower-key-list"),
    path("whistleblower/reports", apis.WhistleblowerReportListApi.as_view(), name="whistleblower-report-list"),
    path(
        "whistleblower/reports/<uuid:pk>",
        apis.WhistleblowerReportDetailApi.as_view(),
        name="whistleblower-report-detail",
    ),
    path(
        "whistleblower/reports/<uuid:pk>/triage",
        apis.WhistleblowerReportTriageApi.as_view(),
        name="whistleblower-report-triage",
    ),
    path(
        "whistleblower/reports/<uuid:pk>/set-aside",
        apis.WhistleblowerReportSetAsideApi.as_view(),
        name="whistleblower-report-set-aside",
    ),
]
