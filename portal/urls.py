from django.contrib.auth import views as auth_views
from django.urls import path

from portal import audit_views, lab_views, views

app_name = "portal"

urlpatterns = [
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(next_page="portal:login"), name="logout"),
    path("", views.home, name="home"),
    path("releases/<uuid:pk>", views.release_detail, name="release"),
    path("releases/<uuid:pk>/request", views.release_request, name="release-request"),
    path("releases/<uuid:pk>/halt", views.release_halt, name="release-halt"),
    path("releases/<uuid:pk>/resume", views.release_resume, name="release-resume"),
    path("releases/<uuid:pk>/reaudit", views.release_reaudit, name="release-reaudit"),
    path("gate-requests/<uuid:pk>", views.gate_request_detail, name="gate-request"),
    path("gate-requests/<uuid:pk>/decide", views.gate_request_decide, name="gate-request-decide"),
    path("gate-requests/<uuid:pk>/withdraw", views.gate_request_withdraw, name="gate-request-withdraw"),
    path("sanctions", views.sanctions, name="sanctions"),
    path("sanctions/issue", views.sanction_issue, name="sanction-issue"),
    path("sanctions/<uuid:pk>/lift", views.sanction_lift, name="sanction-lift"),
    path("incidents", views.incidents, name="incidents"),
    path("incidents/report", lab_views.incident_report, name="incident-report"),
    path("incidents/<uuid:pk>", lab_views.incident_detail, name="incident"),
    path("incidents/<uuid:pk>/<slug:action>", lab_views.incident_action, name="incident-action"),
    # labs (the regulator and assigned auditors read the same pages)
    path("systems", lab_views.systems, name="systems"),
    path("systems/model-versions", lab_views.model_version_create, name="model-version-create"),
    path("systems/new", lab_views.system_version_create, name="system-version-create"),
    path("systems/<uuid:pk>", lab_views.system_detail, name="system"),
    path("systems/<uuid:pk>/credential", lab_views.system_credential, name="system-credential"),
    path("systems/<uuid:pk>/enrolments", lab_views.system_enrol, name="system-enrol"),
    path(
        "systems/<uuid:pk>/enrolments/<uuid:enrolment_pk>/withdraw",
        lab_views.system_enrolment_withdraw,
        name="system-enrolment-withdraw",
    ),
    # auditors and academics (the lab and the regulator read the same pages)
    path("audits", audit_views.audits, name="audits"),
    path("audits/<uuid:pk>", audit_views.audit_detail, name="audit"),
    path("audits/<uuid:pk>/runs", audit_views.audit_run_start, name="audit-run-start"),
    path("audits/<uuid:pk>/findings", audit_views.audit_finding_file, name="audit-finding-file"),
    path("runs/<uuid:pk>", audit_views.run_detail, name="run"),
    path("runs/<uuid:pk>/progress", audit_views.run_progress, name="run-progress"),
    path("runs/<uuid:pk>/cancel", audit_views.run_cancel, name="run-cancel"),
    path("findings", audit_views.findings, name="findings"),
    path("findings/<uuid:pk>", audit_views.finding_detail, name="finding"),
    path("findings/<uuid:pk>/<slug:action>", audit_views.finding_action, name="finding-action"),
    path("tokens", audit_views.tokens, name="tokens"),
    path("tokens/issue", audit_views.token_issue, name="token-issue"),
    path("tokens/<uuid:pk>/revoke", audit_views.token_revoke, name="token-revoke"),
    path("keys", audit_views.keys, name="keys"),
    path("keys/register", audit_views.key_register, name="key-register"),
    path("keys/<str:keyid>/approve", audit_views.key_approve, name="key-approve"),
    path("keys/<str:keyid>/revoke", audit_views.key_revoke, name="key-revoke"),
]
