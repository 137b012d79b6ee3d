"""Writes in auditing: certification, conflicts, audits, assignments and fees
(``certification``), findings, signing keys and sign-offs. Import from here."""

from auditing.services.certification import (
    assignment_end,
    audit_assign,
    audit_close,
    audit_open,
    certification_issue,
    certification_reinstate,
    certification_revoke,
    certification_suspend,
    certifications_expire,
    conflict_declare,
    conflict_end,
    fee_mark_paid,
)
from auditing.services.findings import (
    finding_accept_risk,
    finding_close,
    finding_file,
    finding_mitigate,
    finding_respond,
    finding_retest,
)
from auditing.services.keys import signing_key_approve, signing_key_register, signing_key_revoke
from auditing.services.register import (
    academic_summary_publish,
    academic_summary_withdraw,
    relationship_end,
    relationship_record,
)
from auditing.services.signoffs import (
    signoff_statement_build,
    signoff_status_set,
    signoff_submit,
    signoff_validity,
    signoffs_consume,
    signoffs_void_for_organisation,
)

__all__ = [
    "academic_summary_publish",
    "academic_summary_withdraw",
    "assignment_end",
    "audit_assign",
    "audit_close",
    "audit_open",
    "certification_issue",
    "certification_reinstate",
    "certification_revoke",
    "certification_suspend",
    "certifications_expire",
    "conflict_declare",
    "conflict_end",
    "fee_mark_paid",
    "finding_accept_risk",
    "finding_close",
    "finding_file",
    "finding_mitigate",
    "finding_respond",
    "finding_retest",
    "relationship_end",
    "relationship_record",
    "signing_key_approve",
    "signing_key_register",
    "signing_key_revoke",
    "signoff_statement_build",
    "signoff_status_set",
    "signoff_submit",
    "signoff_validity",
    "signoffs_consume",
    "signoffs_void_for_organisation",
]
