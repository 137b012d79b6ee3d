"""The portal's inbox page: one's own notifications, the unread count in the
nav, marking read (another's is a 404 and changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from notifications.models import Notification

pytestmark = pytest.mark.django_db


def login(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def note(user: Any, title: str) -> Notification:
    return Notification.objects.create(
        recipient=user,
        kind="deadline_near",
        title=title,
        body="Due soon.",
        link="/portal/incidents",
        target_type="monitoring.incident",
        target_id="x",
        dedupe_key=f"test:{title}",
    )


def test_the_page_shows_ones_own_and_the_nav_counts_unread(world):
    note(world.lab_admin, "Report due for Aurora")
    note(world.lab_admin, "Second reminder")
    note(world.other_lab_admin, "Borealis secret")
    r = login(world.lab_admin).get("/portal/notifications")
    assert r.status_code == 200
    page = r.content.decode()
    assert "Report due for Aurora" in page and "Second reminder" in page
    assert "Borealis secret" not in page
    assert "Notifications (2 unread)" in page  # the nav link
    other = login(world.other_lab_admin).get("/portal/notifications").content.decode()
    assert "Borealis secret" in other and "Report due for Aurora" not in other
    assert "Notifications (1 unread)" in other
    # Any portal page carries the count.
    assert "Notifications (2 unread)" in login(world.lab_admin).get("/portal/").content.decode()


def test_marking_read_is_the_recipients_only(world):
    mine = note(world.lab_admin, "Mine")
    theirs = note(world.other_lab_admin, "Theirs")
    r = login(world.lab_admin).post("/portal/notifications", {"notification": str(theirs.pk)})
    assert r.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert login(world.lab_admin).post("/portal/notifications", {"notification": "not-a-uuid"}).status_code == 404
    assert login(world.lab_admin).post("/portal/notifications", {}).status_code == 400
    r = login(world.lab_admin).post("/portal/notifications", {"notification": str(mine.pk)})
    assert r.status_code == 302
    mine.refresh_from_db()
    assert mine.read_at is not None
    page = login(world.lab_admin).get("/portal/notifications?unread=1").content.decode()
    assert "Mine" not in page.split("<table>", 1)[1]


def test_mark_all_read_touches_only_ones_own(world):
    for i in range(3):
        note(world.lab_admin, f"N{i}")
    theirs = note(world.other_lab_admin, "Theirs")
    r = login(world.lab_admin).post("/portal/notifications", {"all": "1"})
    assert r.status_code == 302
    assert not Notification.objects.filter(recipient=world.lab_admin, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_signed_out_is_sent_to_sign_in(world):
    r = Client().get("/portal/notifications")
    assert r.status_code == 302 and "/portal/login" in r["Location"]
