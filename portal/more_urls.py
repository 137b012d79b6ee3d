"""The portal's pages for the rest of each role's work (accounts, organisations
and memberships, the relationship register, standards, fees, whistleblower
keys, label reviews, academic summaries, uploaded logs, sign-off submission),
mounted under /portal/ beside portal/urls.py in their own namespace."""

from __future__ import annotations

from django.urls import URLPattern, path

from portal import decision_views, office_views, work_views

app_name = "portal_more"

urlpatterns: list[URLPattern] = [
    # people: organisations, accounts, memberships (the regulator; a lab's admins for their lab)
    path("people", office_views.people, name="people"),
    path("organisations/create", office_views.organisation_create, name="organisation-create"),
    path("organisations/<uuid:pk>", office_views.organisation, name="organisation"),
    path("organisations/<uuid:pk>/update", office_views.organisation_update, name="organisation-update"),
    path("organisations/<uuid:pk>/accounts", office_views.account_create, name="account-create"),
    path("organisations/<uuid:pk>/members", office_views.membership_add, name="membership-add"),
    path(
        "organisations/<uuid:org_pk>/accounts/<str:username>/<slug:action>",
        office_views.account_action,
        name="account-action",
    ),
    path("memberships/<uuid:pk>/end", office_views.membership_end, name="membership-end"),
    # everyone: their own account (invitations accepted, API tokens)
    path("account", office_views.account, name="account"),
    path("memberships/<uuid:pk>/accept", office_views.membership_accept, name="membership-accept"),
    path("account/deactivate", office_views.account_deactivate_own, name="account-deactivate-own"),
    path("account/tokens", office_views.api_token_create, name="api-token-create"),
    path("account/tokens/<uuid:pk>/revoke", office_views.api_token_revoke, name="api-token-revoke"),
    # the regulator's register, standards, fees, the whistleblower sealing key
    path("register", office_views.register, name="register"),
    path("register/record", office_views.relationship_record, name="relationship-record"),
    path("register/<uuid:pk>/end", office_views.relationship_end, name="relationship-end"),
    path("standards/manage", office_views.standards, name="standards"),
    path("standards/draft", office_views.standard_draft, name="standard-draft"),
    path("standards/<uuid:pk>/publish", office_views.standard_publish, name="standard-publish"),
    path("fees", office_views.fees, name="fees"),
    path("fees/<uuid:pk>/paid", office_views.fee_paid, name="fee-paid"),
    path("whistleblower/keys", office_views.whistle_keys, name="whistle-keys"),
    path("whistleblower/keys/register", office_views.whistle_key_register, name="whistle-key-register"),
    # two people at the regulator: a sanction, a risk acceptance, a long halt
    path("decisions", decision_views.regulator_decisions, name="decisions"),
    path("decisions/propose", decision_views.decision_propose, name="decision-propose"),
    path("decisions/<uuid:pk>/<slug:verb>", decision_views.decision_decide, name="decision-decide"),
    # auditors, academics and labs
    path("work", work_views.work, name="work"),
    path("runs/<uuid:pk>/reviews", work_views.run_reviews, name="run-reviews"),
    path("runs/<uuid:pk>/reviews/<int:review_pk>/resolve", work_views.review_resolve, name="review-resolve"),
    path("audits/<uuid:pk>/upload", work_views.audit_upload, name="audit-upload"),
    path("audits/<uuid:pk>/upload/send", work_views.audit_upload_post, name="audit-upload-send"),
    path("audits/<uuid:pk>/summaries", work_views.audit_summaries, name="audit-summaries"),
    path("audits/<uuid:pk>/summaries/publish", work_views.summary_publish, name="summary-publish"),
    path("summaries/<uuid:pk>/withdraw", work_views.summary_withdraw, name="summary-withdraw"),
    path("signoffs/submit", work_views.signoff_submit, name="signoff-submit"),
    path("signoffs/submit/send", work_views.signoff_submit_post, name="signoff-submit-send"),
    path("model-versions/<uuid:pk>", work_views.model_version, name="model-version"),
    path("model-versions/<uuid:pk>/update", work_views.model_version_update, name="model-version-update"),
]
