"""Who may see KYC records and enrolments.

KYC records: the customer's own members and the regulator see everything; a
lab's members see the records of customers actively enrolled in the lab's
releases, and only a summary of them (status, dates, stated purpose: the
selector decides which view), never the identity data or the owners. Nobody
else sees that a customer exists.

Enrolments and enrolment consents: the regulator; the lab whose release (or
system) it is; the customer itself."""

from __future__ import annotations

from django.db.models import Q

from core.actors import Actor
from core.permissions import QS, VIEW


def kyc_record_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    own = Q(organisation_id__in=actor.customer_ids)
    if action != VIEW:
        return qs.filter(own)
    if actor.lab_ids:
        from customers.models import Enrolment

        enrolled = Enrolment.objects.active().filter(release__system_version__lab_id__in=actor.lab_ids)
        own |= Q(organisation_id__in=enrolled.values("customer_id"))
    return qs.filter(own)


def enrolment_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_regulator:
        return qs
    if action != VIEW:
        return qs.none()  # services decide who may enrol and withdraw (403 past visibility)
    if qs.model._meta.model_name == "enrolmentconsent":
        return qs.filter(Q(system_version__lab_id__in=actor.lab_ids) | Q(customer_id__in=actor.customer_ids))
    return qs.filter(Q(release__system_version__lab_id__in=actor.lab_ids) | Q(customer_id__in=actor.customer_ids))
