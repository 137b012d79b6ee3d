from django.urls import path, register_converter

from auditing import apis


class KeyIdConverter:
    regex = "[0-9a-f]{64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(KeyIdConverter, "keyid")

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
    path("audits/<uuid:pk>/summaries", apis.SummaryListApi.as_view(), name="summary-list"),
    path("summaries/<uuid:pk>", apis.SummaryDetailApi.as_view(), name="summary-detail"),
    path("summaries/<uuid:pk>/withdraw", apis.SummaryWithdrawApi.as_view(), name="summary-withdraw"),
    path("relationships", apis.RelationshipListApi.as_view(), name="relationship-list"),
    path("relationships/<uuid:pk>", apis.RelationshipDetailApi.as_view(), name="relationship-detail"),
    path("relationships/<uuid:pk>/end", apis.RelationshipEndApi.as_view(), name="relationship-end"),
    path("fees", apis.FeeListApi.as_view(), name="fee-list"),
    path("fees/<uuid:pk>/paid", apis.FeePaidApi.as_view(), name="fee-paid"),
    path("findings", apis.FindingListApi.as_view(), name="finding-list"),
    path("findings/<uuid:pk>", apis.FindingDetailApi.as_view(), name="finding-detail"),
    path("findings/<uuid:pk>/respond", apis.FindingRespondApi.as_view(), name="finding-respond"),
    path("findings/<uuid:pk>/mitigate", apis.FindingMitigateApi.as_view(), name="finding-mitigate"),
    path("findings/<uuid:pk>/retest", apis.FindingRetestApi.as_view(), name="finding-retest"),
    path("findings/<uuid:pk>/close", apis.FindingCloseApi.as_view(), name="finding-close"),
    path("findings/<uuid:pk>/accept-risk", apis.FindingAcceptRiskApi.as_view(), name="finding-accept-risk"),
    path("keys", apis.SigningKeyListApi.as_view(), name="key-list"),
    path("keys/<keyid:keyid>", apis.SigningKeyDetailApi.as_view(), name="key-detail"),
    path("keys/<keyid:keyid>/approve", apis.SigningKeyApproveApi.as_view(), name="key-approve"),
    path("keys/<keyid:keyid>/revoke", apis.SigningKeyRevokeApi.as_view(), name="key-revoke"),
    path("signoffs", apis.SignOffListApi.as_view(), name="signoff-list"),
    path("signoffs/statement", apis.SignOffStatementApi.as_view(), name="signoff-statement"),
    path("signoffs/<uuid:pk>", apis.SignOffDetailApi.as_view(), name="signoff-detail"),
    path("signoffs/<uuid:pk>/envelope", apis.SignOffEnvelopeApi.as_view(), name="signoff-envelope"),
]
