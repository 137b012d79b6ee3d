"""Navigation entries for the pages of portal/more_urls.py, by role."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def more_nav_links(user: Any) -> list[tuple[str, str]]:
    """(url, label) pairs for this person's roles; none yet."""
    return []
