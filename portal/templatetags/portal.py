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
    """The transparency-log entry's API address."""
    return f"/api/log/entries/{int(index)}"
