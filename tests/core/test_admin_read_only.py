"""The admin is for reading. Every write goes through a service, which checks
who may do it and records an audit event; an admin form does neither, so
through it an operator could re-point an API token to the regulator's user and
act as the regulator. Nothing registered in the admin may be added, changed or
deleted there, not even by a superuser."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from core.models import ApiToken, AuditEvent
from core.services import api_token_create
from standards.models import Standard, StandardStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def superuser():
    return User.objects.create_superuser(username="operator", email="operator@example.test", password="x" * 20)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def rows(world, actor_of) -> dict[type, Any]:
    """One row of every registered model that the world and a few services
    give us, so object-level permissions are asked about real objects too (a
    draft standard, say, which is the kind of object an admin might special-case)."""
    api_token_create(actor=actor_of(world.regulator), name="regulator's")
    api_token_create(actor=actor_of(world.lab_admin), name="lab's")
    out: dict[type, Any] = {}
    for model in admin.site._registry:
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            out[model] = obj
    out[Standard] = Standard.objects.create(name="Draft", version="0.0-test", status=StandardStatus.DRAFT)
    return out


def _requests(superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    return request


def test_every_registered_model_admin_refuses_add_change_and_delete(superuser, rows):
    request = _requests(superuser)
    writable = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        for obj in (None, rows.get(model)):
            if model_admin.has_add_permission(request):
                writable.append(f"{label}: add")
            if model_admin.has_change_permission(request, obj):
                writable.append(f"{label}: change {obj!r}")
            if model_admin.has_delete_permission(request, obj):
                writable.append(f"{label}: delete {obj!r}")
            for inline in model_admin.get_inline_instances(request, obj):
                name = f"{label} inline {inline.model._meta.label}"
                if inline.has_add_permission(request, obj):
                    writable.append(f"{name}: add")
                if inline.has_change_permission(request, obj):
                    writable.append(f"{name}: change")
                if inline.has_delete_permission(request, obj):
                    writable.append(f"{name}: delete")
        assert model_admin.has_view_permission(request), f"{label}: operators must still be able to read it"
        if model_admin.get_actions(request):
            writable.append(f"{label}: bulk actions {sorted(model_admin.get_actions(request))}")
    assert writable == []


def test_every_admin_page_is_readable_and_refuses_writes_over_http(admin_client, rows):
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        assert admin_client.get(changelist).status_code == 200, changelist
        add = reverse("admin:{}_{}_add".format(*info))
        assert admin_client.post(add, {}).status_code == 403, add
        obj = rows.get(model)
        if obj is None:
            continue
        change = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
        assert admin_client.get(change).status_code == 200, change
        assert admin_client.post(change, {}).status_code == 403, change
        delete = reverse("admin:{}_{}_delete".format(*info), args=[obj.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403, delete
        assert model._default_manager.filter(pk=obj.pk).exists(), delete


def test_an_api_token_cannot_be_re_pointed_to_the_regulator(world, admin_client, actor_of):
    token, _ = api_token_create(actor=actor_of(world.lab_admin), name="mine")
    events = AuditEvent.objects.count()
    url = reverse("admin:core_apitoken_change", args=[token.pk])
    r = admin_client.post(
        url,
        {
            "user": world.regulator.pk,
            "name": token.name,
            "prefix": token.prefix,
            "digest": token.digest,
            "expires_at_0": "",
            "expires_at_1": "",
            "revoked_at_0": "",
            "revoked_at_1": "",
        },
    )
    assert r.status_code == 403
    token.refresh_from_db()
    assert token.user == world.lab_admin
    assert ApiToken.objects.filter(user=world.regulator).count() == 0
    assert AuditEvent.objects.count() == events


def test_nobody_becomes_the_regulator_through_the_user_admin(world, admin_client):
    """Setting the regulator's password, or giving another account the
    regulator's membership, would be the same impersonation by another door."""
    before = User.objects.get(pk=world.regulator.pk).password
    url = reverse("admin:auth_user_password_change", args=[world.regulator.pk])
    r = admin_client.post(url, {"password1": "an operator's choice 1", "password2": "an operator's choice 1"})
    assert r.status_code == 403
    assert User.objects.get(pk=world.regulator.pk).password == before

    membership = world.regulator.memberships.get()
    r = admin_client.post(
        reverse("admin:core_membership_change", args=[membership.pk]),
        {
            "user": UserFactory(username="mallory").pk,
            "organisation": membership.organisation_id,
            "role": membership.role,
        },
    )
    assert r.status_code == 403
    membership.refresh_from_db()
    assert membership.user == world.regulator
