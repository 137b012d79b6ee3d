"""Making notifications. The one place that maps audit events to the people
they concern (``EVENT_KINDS`` and ``_recipients_for``), plus the deadline
reminders. Every recipient is checked against the object's own scope
(``visible_to``): nobody is told about something they may not see.

Audit events are read after their transaction commits (``transaction.on_commit``),
so a rolled-back write notifies nobody, and a failure here is logged and never
undoes or breaks the write. Each notification is emailed after its own
transaction commits; a failed send is logged and leaves the inbox entry."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from auditing.models import AuditAssignment, Finding
from core.actors import actor_for
from core.errors import NotFound
from core.models import AuditEvent, Membership, Role
from customers.models import Enrolment, EnrolmentStatus
from deploy.models import GateRequest, Reaudit, ReauditSource
from monitoring.models import UNRESOLVED_INCIDENT_STATUSES, Incident
from notifications.models import Notification, NotificationKind
from releases.models import Release, ReleaseStatus

logger = logging.getLogger(__name__)
User = get_user_model()

# Audit-event action -> the kind of notification it makes. Nothing else notifies.
EVENT_KINDS: dict[str, str] = {
    "gate_request.approve": NotificationKind.GATE_REQUEST_DECIDED,
    "gate_request.reject": NotificationKind.GATE_REQUEST_DECIDED,
    "finding.file": NotificationKind.FINDING_FILED,
    "finding.respond": NotificationKind.FINDING_ANSWERED,
    "finding.mitigate": NotificationKind.FINDING_ANSWERED,
    "release.halt": NotificationKind.RELEASE_HALTED,
    "release.suspend": NotificationKind.RELEASE_SUSPENDED,
}

# How far ahead a deadline reminder goes out.
REMINDER_WINDOW = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Draft:
    kind: str
    title: str
    body: str
    link: str
    target: models.Model
    recipients: list[Any]
    # Recipients who reach the object another way (a customer through its
    # enrolment, not the release): user pk -> the page they may open.
    links: dict[Any, str] = field(default_factory=dict)


# --- the signal -------------------------------------------------------------


def audit_event_saved(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    """post_save on core.AuditEvent: events that notify are handled once their
    transaction commits (their organisations are added after the save)."""
    if not created or instance.action not in EVENT_KINDS:
        return
    event_pk = instance.pk
    transaction.on_commit(lambda: notify_for_event_safely(event_pk))


def notify_for_event_safely(event_pk: Any) -> None:
    try:
        notify_for_event(event_pk)
    except Exception:  # never let a notification failure surface in the write that caused it
        logger.exception("notifications: could not notify for audit event %s", event_pk)


def notify_for_event(event_pk: Any) -> list[Notification]:
    """The notifications one committed audit event makes (none for an action
    that does not notify). Idempotent: a second call makes none."""
    event = AuditEvent.objects.filter(pk=event_pk).first()
    if event is None or event.action not in EVENT_KINDS:
        return []
    draft = _draft_for(event)
    if draft is None:
        return []
    recipients = [u for u in draft.recipients if u.pk != event.actor_id]  # not the person who acted
    return _deliver(draft, recipients, dedupe_key=f"event:{event.pk}", event=event)


# --- who is told what -------------------------------------------------------


def _members(organisation_ids: Iterable[Any], roles: Iterable[str] | None = None) -> list[Any]:
    memberships = Membership.objects.active().filter(organisation_id__in=list(organisation_ids))
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return list(User.objects.filter(pk__in=memberships.values("user_id"), is_active=True).order_by("pk"))


def _who_may_see(users: Iterable[Any], queryset: models.QuerySet[Any], pk: Any) -> list[Any]:
    """Those of ``users`` who may view the object, by its own scope."""
    return [u for u in users if queryset.visible_to(actor_for(u)).filter(pk=pk).exists()]  # type: ignore[attr-defined]


def _sv_label(sv: Any) -> str:
    return f"{sv.name} v{sv.sequence}"


def _draft_for(event: AuditEvent) -> Draft | None:
    kind = EVENT_KINDS[event.action]
    if kind == NotificationKind.GATE_REQUEST_DECIDED:
        gr = GateRequest.objects.select_related("system_version").filter(pk=event.target_id).first()
        if gr is None:
            return None
        sv = gr.system_version
        outcome = "approved" if event.action.endswith("approve") else "rejected"
        admins = _members([sv.lab_id], [Role.LAB_ADMIN])
        return Draft(
            kind=kind,
            title=f"Stage {gr.to_stage} request for {_sv_label(sv)} {outcome}",
            body=f"The regulator {outcome} the request to move {_sv_label(sv)} from stage {gr.from_stage} "
            f"to stage {gr.to_stage}.",
            link=reverse("portal:gate-request", args=[gr.pk]),
            target=gr,
            recipients=_who_may_see(admins, GateRequest.objects.all(), gr.pk),
        )
    if kind in (NotificationKind.FINDING_FILED, NotificationKind.FINDING_ANSWERED):
        finding = Finding.objects.select_related("system_version", "organisation").filter(pk=event.target_id).first()
        if finding is None:
            return None
        sv = finding.system_version
        if kind == NotificationKind.FINDING_FILED:
            people = _members([sv.lab_id])
            title = f"New {finding.severity}-severity finding on {_sv_label(sv)}"
            body = f"{finding.organisation.name} filed a finding on {_sv_label(sv)}: {finding.title}"
        else:
            people = _members([finding.organisation_id])
            verb = "responded to" if event.action == "finding.respond" else "reported mitigation of"
            title = f"The lab {verb} your finding on {_sv_label(sv)}"
            body = f"The lab {verb} the finding “{finding.title}”."
        return Draft(
            kind=kind,
            title=title[:200],
            body=body,
            link=reverse("portal:finding", args=[finding.pk]),
            target=finding,
            recipients=_who_may_see(people, Finding.objects.all(), finding.pk),
        )
    # release.halt / release.suspend
    release = Release.objects.select_related("system_version").filter(pk=event.target_id).first()
    if release is None:
        return None
    sv = release.system_version
    auditors = (
        AuditAssignment.objects.in_force()
        .filter(audit__system_version_id=sv.pk)
        .values_list("organisation_id", flat=True)
    )
    customers = Enrolment.objects.filter(release=release, status=EnrolmentStatus.ACTIVE).values_list(
        "customer_id", flat=True
    )
    people = _members({sv.lab_id, *auditors})
    insiders = _who_may_see(people, Release.objects.all(), release.pk)
    # Enrolled customers see their enrolment, not the release itself.
    enrolled = [
        u
        for u in _members(customers)
        if u not in insiders
        and Enrolment.objects.visible_to(actor_for(u)).filter(release=release, status=EnrolmentStatus.ACTIVE).exists()
    ]
    verb = "halted" if kind == NotificationKind.RELEASE_HALTED else "suspended"
    return Draft(
        kind=kind,
        title=f"{_sv_label(sv)} {verb} (stage {release.stage})",
        body=f"The release of {_sv_label(sv)} was {verb}. Gateway tokens for it no longer work until it is resumed.",
        link=reverse("portal:release", args=[sv.pk]),
        target=release,
        recipients=insiders + enrolled,
        links={u.pk: reverse("portal:enrolments") for u in enrolled},
    )


# --- deadlines ----------------------------------------------------------------


def deadline_reminders_send(*, now: datetime.datetime | None = None) -> int:
    """Remind the lab of each incident report it owes within the next 24
    hours, once per incident and due time (a moved deadline is reminded
    again). Idempotent: run it as often as you like. Returns how many
    notifications it made."""
    now = now or timezone.now()
    due = (
        Incident.objects.filter(
            status__in=UNRESOLVED_INCIDENT_STATUSES,
            lab_reported_at__isnull=True,
            lab_report_due_at__gt=now,
            lab_report_due_at__lte=now + REMINDER_WINDOW,
        )
        .select_related("system_version")
        .order_by("lab_report_due_at")
    )
    made = 0
    for incident in due:
        try:
            sv = incident.system_version
            people = _who_may_see(_members([sv.lab_id]), Incident.objects.all(), incident.pk)
            when = incident.lab_report_due_at.astimezone(datetime.UTC)
            draft = Draft(
                kind=NotificationKind.DEADLINE_NEAR,
                title=f"Incident report on {_sv_label(sv)} due {when:%Y-%m-%d %H:%M} UTC",
                body=f"The lab's own account of the incident “{incident.title}” is due by "
                f"{when:%Y-%m-%d %H:%M} UTC. Past that it is flagged overdue.",
                link=reverse("portal:incident", args=[incident.pk]),
                target=incident,
                recipients=people,
            )
            key = f"deadline:incident_lab_report:{incident.pk}:{when.isoformat()}"
            made += len(_deliver(draft, people, dedupe_key=key, event=None))
        except Exception:
            logger.exception("notifications: could not remind of incident %s", incident.pk)
    return made + _online_learning_reaudit_reminders(now)


def _online_learning_reaudit_reminders(now: datetime.datetime) -> int:
    """Remind the assigned auditors and the lab of an online-learning
    release's scheduled re-audit (deploy.services.online_learning_expire opens
    it a lead time before the sign-offs expire), once per re-audit, while it
    is still owed: the sign-offs have not yet expired and no audit closed
    since renewed them."""
    from deploy.services import online_learning_expiry, online_learning_reaudit_ref

    owed = Reaudit.objects.filter(
        origin=ReauditSource.ONLINE_LEARNING,
        source_ref__startswith="expires:",
        system_version__release__status=ReleaseStatus.ACTIVE,
    ).select_related("system_version__release")
    made = 0
    for reaudit in owed:
        try:
            sv = reaudit.system_version
            expiry = online_learning_expiry(release=sv.release)
            if expiry is None or expiry <= now or reaudit.source_ref != online_learning_reaudit_ref(expiry):
                continue  # expired (suspended), or renewed since: another window
            auditors = (
                AuditAssignment.objects.in_force()
                .filter(audit__system_version_id=sv.pk)
                .values_list("organisation_id", flat=True)
            )
            people = _who_may_see(_members({sv.lab_id, *auditors}), Reaudit.objects.all(), reaudit.pk)
            when = expiry.astimezone(datetime.UTC)
            draft = Draft(
                kind=NotificationKind.DEADLINE_NEAR,
                title=f"Re-audit of {_sv_label(sv)} due by {when:%Y-%m-%d} (online learning)",
                body=f"{_sv_label(sv)} learns online: the sign-offs its stage rests on expire on "
                f"{when:%Y-%m-%d %H:%M} UTC, and the release is suspended then unless an audit of this version "
                "is closed before.",
                link=reverse("portal:release", args=[sv.pk]),
                target=reaudit,
                recipients=people,
            )
            made += len(
                _deliver(draft, people, dedupe_key=f"deadline:online_learning_reaudit:{reaudit.pk}", event=None)
            )
        except Exception:
            logger.exception("notifications: could not remind of re-audit %s", reaudit.pk)
    return made


# --- delivery -----------------------------------------------------------------


def _deliver(
    draft: Draft, recipients: Iterable[Any], *, dedupe_key: str, event: AuditEvent | None
) -> list[Notification]:
    made: list[Notification] = []
    with transaction.atomic():
        for user in recipients:
            notification, created = Notification.objects.get_or_create(
                recipient=user,
                dedupe_key=dedupe_key,
                defaults={
                    "kind": draft.kind,
                    "title": draft.title[:200],
                    "body": draft.body,
                    "link": draft.links.get(user.pk, draft.link),
                    "target_type": draft.target._meta.label_lower,
                    "target_id": str(draft.target.pk),
                    "event": event,
                },
            )
            if created:
                made.append(notification)
        ids = [n.pk for n in made]
        transaction.on_commit(lambda: _email(ids))
    return made


def _email(notification_ids: list[Any]) -> None:
    """Email each notification to its recipient; a failure is logged, the
    inbox entry stays, and the others still go."""
    base = settings.STAGEGATE_BASE_URL.rstrip("/")
    for n in Notification.objects.filter(pk__in=notification_ids, emailed_at=None).select_related("recipient"):
        address = n.recipient.email
        if not address:
            continue
        try:
            send_mail(
                subject=f"Stagegate: {n.title}",
                message=f"{n.body}\n\nOpen it in the portal: {base}{n.link}\n\n"
                "You receive this because your organisation is concerned. Sign in to read more.",
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[address],
            )
        except Exception:
            logger.exception("notifications: could not email notification %s", n.pk)
            continue
        Notification.objects.filter(pk=n.pk).update(emailed_at=timezone.now())


# --- the inbox ------------------------------------------------------------------


def notification_mark_read(*, user: Any, notification: Notification) -> Notification:
    """Mark one of the user's own notifications read (once; reading again keeps the first time)."""
    if notification.recipient_id != user.pk:
        raise NotFound("Notification not found.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at=None).update(read_at=notification.read_at)
    return notification


def notifications_mark_all_read(*, user: Any) -> int:
    """Mark every unread notification of the user's read; returns how many."""
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).update(read_at=timezone.now())
