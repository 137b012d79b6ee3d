"""Small template helpers for the portal's pages."""

from __future__ import annotations

from typing import Any

from django import template

from portal.presenters import stage_label

register = template.Library()


@register.filter(name="stage")
def stage(value: Any) -> str:
    """ "Stage 2: limited release to vetted customers" for 2."""
    return stage_label(value)


@register.filter(name="log_url")
def log_url(index: Any) -> str:
    """The transparency-log entry's page (its inclusion proof checked there)."""
    return f"/portal/log/{int(index)}"


@register.simple_tag
def local_model_notice(user: Any) -> dict[str, Any] | None:
    """The local model's state for a banner, to those whose work runs on it
    (auditors, academics, the regulator), while it is not ready."""
    from core.actors import actor_for
    from portal.selectors import local_model_state

    if not getattr(user, "is_authenticated", False):
        return None
    state = local_model_state()
    if state is None or state["state"] in ("ready", "off"):
        return None
    actor = actor_for(user)
    return state if actor.is_regulator or actor.auditor_org_ids else None


@register.simple_tag
def nav_links(user: Any) -> list[tuple[str, str]]:
    """The portal's sections for this person's roles, in the order of their
    work: what each role does first comes first."""
    from django.urls import reverse

    from core.actors import actor_for

    actor = actor_for(user)
    links = [("portal:home", "Home")]
    if actor.is_regulator:
        links += [
            ("portal:releases", "Releases"),
            ("portal:audits", "Audits"),
            ("portal:certifications", "Certification"),
            ("portal:conflicts", "Conflicts"),
            ("portal:keys", "Keys"),
            ("portal:kyc-queue", "KYC"),
            ("portal:incidents", "Incidents"),
            ("portal:sanctions", "Sanctions"),
            ("portal:whistleblower", "Whistleblowers"),
            ("portal:findings", "Findings"),
            ("portal:audit-trail", "Audit trail"),
        ]
    else:
        if actor.lab_ids:
            links += [
                ("portal:systems", "Systems"),
                ("portal:audits", "Audits"),
                ("portal:findings", "Findings"),
                ("portal:enrolments", "Customers"),
                ("portal:incidents", "Incidents"),
                ("portal:keys", "Signing keys"),
            ]
        if actor.auditor_org_ids:
            links += [
                ("portal:audits", "Audits"),
                ("portal:findings", "Findings"),
                ("portal:tokens", "Gateway tokens"),
                ("portal:keys", "Signing keys"),
                ("portal:conflicts", "Conflicts"),
                ("portal:incidents", "Incidents"),
            ]
        if actor.customer_ids:
            links += [
                ("portal:kyc-queue", "KYC"),
                ("portal:enrolments", "Enrolments"),
                ("portal:tokens", "Gateway tokens"),
                ("portal:incident-report", "Report an incident"),
            ]
    seen: set[str] = set()
    out = []
    for name, label in links:
        if name not in seen:
            seen.add(name)
            out.append((reverse(name), label))
    out.append(("/api/docs/", "API"))
    return out
