"""The admin is for reading. Every write goes through a service, which checks who
may make it and records an audit event in the same transaction; an admin form
does neither. Through it an operator once re-pointed its own API token to the
regulator's user and issued a sanction in the regulator's name. So every app
registers its models with ``ReadOnlyModelAdmin`` (and ``ReadOnlyInline``): no
add, change or delete for anyone, a superuser included, and no bulk actions.
The user and group admins that django.contrib.auth registers are replaced too:
setting the regulator's password there is the same impersonation by another
door. tests/core/test_admin_read_only.py walks every registered admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import models
from django.http import HttpRequest

from core.models import ApiToken, AuditEvent, Membership, Organisation


class NoWrites:
    """Refuses add, change and delete to everyone: every write goes through a
    service that records it."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyModelAdmin(NoWrites, admin.ModelAdmin):
    """Lists, search and a view-only detail page (Django shows every field
    read-only when change is refused); nothing more."""

    # The view-only page still builds a form; say which scheme URL fields assume
    # (Django 6 changes the default) rather than be warned about it.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyInline(NoWrites, admin.TabularInline):
    extra = 0
    can_delete = False


@admin.register(Organisation)
class OrganisationAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "kind", "slug", "country", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyModelAdmin):
    list_display = ["user", "organisation", "role", "created_at", "ended_at"]
    list_filter = ["role", "organisation__kind"]
    search_fields = ["user__username", "organisation__name"]
    list_select_related = ["user", "organisation"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "expires_at", "revoked_at", "last_used_at"]
    search_fields = ["user__username", "name", "prefix"]
    list_select_related = ["user"]
    exclude = ["digest"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    """The audit trail is append-only (PostgreSQL refuses updates and deletes too)."""

    list_display = ["id", "occurred_at", "actor_label", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_id", "actor_label", "action"]


User = get_user_model()

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class ReadOnlyUserAdmin(ReadOnlyModelAdmin, UserAdmin):
    """No password resets, superuser flags or renames. Until a service makes
    accounts (with an audit event), they are made on the host
    (``manage.py createsuperuser``, ``changepassword``, ``shell``): a stronger
    privilege than an admin login, and one the host's own logs record."""


@admin.register(Group)
class ReadOnlyGroupAdmin(ReadOnlyModelAdmin, GroupAdmin):
    """Stagegate's permissions are memberships, not groups; nothing to edit."""
