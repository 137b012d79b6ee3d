"""Every write the API offers can be done in the portal, or says why not.

Each POST, PUT, PATCH and DELETE operation of the generated OpenAPI schema is
mapped to the portal URL name that does the same job through the same
service, or to a short reason it stays API-only. A new API write with neither
fails here, as does a mapping to a URL name that no longer resolves or to an
operation that no longer exists (so the map stays true)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator

WRITE_METHODS = ("post", "put", "patch", "delete")

# operationId -> the portal URL name ("namespace:name") that does the same job.
PAGES: dict[str, str] = {
    # people and organisations
    "accounts_create": "portal_more:account-create",
    "accounts_deactivate": "portal_more:account-action",  # and one's own: account-deactivate-own
    "accounts_reactivate": "portal_more:account-action",
    "accounts_password_reset": "portal_more:account-action",
    "organisations_create": "portal_more:organisation-create",
    "organisations_update": "portal_more:organisation-update",
    "memberships_create": "portal_more:membership-add",
    "memberships_accept": "portal_more:membership-accept",
    "memberships_end": "portal_more:membership-end",
    "tokens_create": "portal_more:api-token-create",
    "tokens_revoke": "portal_more:api-token-revoke",
    "notification_read": "portal:notifications",
    # the regulator
    "certifications_issue": "portal:certification-issue",
    "certifications_suspend": "portal:certification-action",
    "certifications_reinstate": "portal:certification-action",
    "certifications_revoke": "portal:certification-action",
    "audits_open": "portal:audit-open",
    "audits_assignments_create": "portal:audit-assign",
    "audits_assignments_end": "portal:assignment-end",
    "audits_close": "portal:audit-close",
    "conflicts_declare": "portal:conflict-declare",
    "conflicts_end": "portal:conflict-end",
    "relationships_record": "portal_more:relationship-record",
    "relationships_end": "portal_more:relationship-end",
    "standards_create": "portal_more:standard-draft",
    "standards_publish": "portal_more:standard-publish",
    "fees_mark_paid": "portal_more:fee-paid",
    "keys_approve": "portal:key-approve",
    "kyc_verify": "portal:kyc-decide",
    "kyc_reject": "portal:kyc-decide",
    "gate_request_decide": "portal:gate-request-decide",
    "release_halt": "portal:release-halt",
    "release_resume": "portal:release-resume",
    "reaudit_require": "portal:release-reaudit",
    "sanction_issue": "portal:sanction-issue",
    "sanction_lift": "portal:sanction-lift",
    "regulator_decision_propose": "portal_more:decision-propose",
    "regulator_decision_approve": "portal_more:decision-decide",
    "regulator_decision_reject": "portal_more:decision-decide",
    "incidents_confirm": "portal:incident-action",
    "incidents_resolve": "portal:incident-action",
    "incidents_dismiss": "portal:incident-action",
    "whistleblower_keys_register": "portal_more:whistle-key-register",
    "whistleblower_reports_triage": "portal:whistleblower-triage",
    "whistleblower_reports_set_aside": "portal:whistleblower-set-aside",
    # labs
    "model_versions_create": "portal:model-version-create",
    "model_versions_partial_update": "portal_more:model-version-update",
    "system_versions_create": "portal:system-version-create",
    "system_versions_revise": "portal:system-revise",
    "system_versions_credential_rotate": "portal:system-credential",
    "release_gate_request_create": "portal:release-request",
    "gate_request_withdraw": "portal:gate-request-withdraw",
    "release_enrolments_create": "portal:system-enrol",
    "release_enrolments_withdraw": "portal:system-enrolment-withdraw",
    "incidents_lab_report": "portal:incident-action",
    "findings_respond": "portal:finding-action",
    "findings_mitigate": "portal:finding-action",
    "findings_accept_risk": "portal:finding-action",
    # auditors and academics
    "eval_runs_start": "portal:audit-run-start",
    "eval_runs_cancel": "portal:run-cancel",
    "label_reviews_resolve": "portal_more:review-resolve",
    "inspect_logs_upload": "portal_more:audit-upload-send",
    "findings_file": "portal:audit-finding-file",
    "findings_retest": "portal:finding-action",
    "findings_close": "portal:finding-action",
    "keys_register": "portal:key-register",
    "keys_revoke": "portal:key-revoke",
    "signoffs_submit": "portal_more:signoff-submit-send",
    "summaries_publish": "portal_more:summary-publish",
    "summaries_withdraw": "portal_more:summary-withdraw",
    "gateway_token_issue": "portal:token-issue",
    "gateway_token_accept": "portal:token-accept",
    "gateway_token_revoke": "portal:token-revoke",
    # customers
    "kyc_submit": "portal:kyc-submit",
    "release_enrolment_consents_create": "portal:consent-grant",
    "release_enrolment_consents_withdraw": "portal:consent-withdraw",
    "incidents_report": "portal:incident-report",
}

# operationId -> why it stays API-only.
API_ONLY: dict[str, str] = {
    "whistleblower_reports_submit": (
        "Sealed on the whistleblower's own machine (`stagegate-sign whistle`) to the regulator's key and sent "
        "without an account: a page served by us would see the plaintext and who sent it."
    ),
}


# operationId -> what page will do it: API writes added while their page is
# being built. They count as mapped, and may be absent from the schema (the
# page can land before the operation); keep this short-lived.
PAGE_TO_COME: dict[str, str] = {}


def _write_operations() -> dict[str, str]:
    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    out = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in WRITE_METHODS:
                out[operation["operationId"]] = f"{method.upper()} {path}"
    return out


@pytest.fixture(scope="module")
def operations() -> dict[str, str]:
    return _write_operations()


def test_every_api_write_has_a_portal_page_or_a_reason(operations):
    mapped = set(PAGES) | set(API_ONLY) | set(PAGE_TO_COME)
    missing = sorted(f"{op} ({where})" for op, where in operations.items() if op not in mapped)
    assert missing == [], f"API writes with no portal page and no reason to stay API-only: {missing}"
    assert len(operations) >= 75  # what the API offered when this map was written


def test_the_map_names_only_operations_that_exist(operations):
    assert sorted(set(PAGES) - set(operations)) == []
    assert sorted(set(API_ONLY) - set(operations)) == []
    assert set(PAGES).isdisjoint(API_ONLY) and set(PAGES).isdisjoint(PAGE_TO_COME)
    assert set(API_ONLY).isdisjoint(PAGE_TO_COME)
    assert all(reason.strip() for reason in [*API_ONLY.values(), *PAGE_TO_COME.values()])


def test_every_mapped_url_name_resolves():
    resolver = get_resolver()
    unresolved = []
    for op, name in PAGES.items():
        namespace, _, url_name = name.partition(":")
        if namespace not in resolver.namespace_dict:
            unresolved.append((op, name))
            continue
        _, sub = resolver.namespace_dict[namespace]
        if url_name not in sub.reverse_dict:
            unresolved.append((op, name))
    assert unresolved == []
