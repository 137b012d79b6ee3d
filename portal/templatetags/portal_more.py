"""Navigation entries for the pages of portal/more_urls.py, by role."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def more_nav_links(user: Any) -> list[tuple[str, str]]:
    """(url, label) pairs for this person's roles, after the portal's own
    entries: the regulator's office work, a lab admin's people, the page that
    gathers an auditor's, academic's or lab's remaining work, and everyone's
    own account (invitations, API tokens)."""
    from django.urls import reverse

    from core.actors import actor_for
    from core.models import Role

    actor = actor_for(user)
    names: list[tuple[str, str]] = []
    if actor.is_regulator:
        names += [
            ("portal_more:decisions", "Two-person decisions"),
            ("portal_more:people", "People"),
            ("portal_more:register", "Register"),
            ("portal_more:standards", "Standards"),
            ("portal_more:fees", "Fees"),
            ("portal_more:whistle-keys", "Whistleblower key"),
        ]
    else:
        if any(actor.has_role(lab, Role.LAB_ADMIN) for lab in actor.lab_ids):
            names.append(("portal_more:people", "People"))
        if actor.lab_ids or actor.auditor_org_ids:
            names += [("portal_more:work", "More work"), ("portal_more:fees", "Fees")]
        if actor.auditor_org_ids or actor.lab_ids:
            names.append(("portal_more:signoff-submit", "Submit a sign-off"))
    names.append(("portal_more:account", "My account"))
    seen: set[str] = set()
    out = []
    for name, label in names:
        if name not in seen:
            seen.add(name)
            out.append((reverse(name), label))
    return out
