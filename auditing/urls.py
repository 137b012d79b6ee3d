from django.urls import path

from auditing import apis

urlpatterns = [
    path("certifications", apis.CertificationListApi.as_view(), name="certification-list"),
    path("certifications/<uuid:pk>", apis.CertificationDetailApi.as_view(), name="certification-detail"),
    path("certifications/<uuid:pk>/suspend", apis.CertificationSuspendApi.as_view(), name="certification-suspend"),
    path(
        "certifications/<uuid:pk>/reinstate", apis.CertificationReinstateApi.as_view(), name="certification-reinstate"
    ),
    path("certifications/<uuid:pk>/revoke", apis.CertificationRevokeApi.as_view(), name="certification-revoke"),
    path("conflicts", apis.ConflictListApi.as_view(), name="conflict-list"),
    path("conflicts/<uuid:pk>", apis.ConflictDetailApi.as_view(), name="conflict-detail"),
    path("conflicts/<uuid:pk>/end", apis.ConflictEndApi.as_view(), name="conflict-end"),
    path("audits", apis.AuditListApi.as_view(), name="audit-list"),
    path("audits/<uuid:pk>", apis.AuditDetailApi.as_view(), name="audit-detail"),
    path("audits/<uuid:pk>/close", apis.AuditCloseApi.as_view(), name="audit-close"),
    path("audits/<uuid:pk>/assignments", apis.AssignmentListApi.as_view(), name="assignment-list"),
    path(
        "audits/<uuid:pk>/assignments/<uuid:assignment_pk>/end",
        apis.AssignmentEndApi.as_view(),
        name="assignment-end",
    ),
    path("fees", apis.FeeListApi.as_view(), name="fee-list"),
    path("fees/<uuid:pk>/paid", apis.FeePaidApi.as_view(), name="fee-paid"),
]
