"""The portal's pages for the rest of each role's work (accounts, organisations
and memberships, the relationship register, standards, fees, whistleblower
keys, label reviews, academic summaries, uploaded logs, sign-off submission),
mounted under /portal/ beside portal/urls.py in their own namespace."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "portal_more"

urlpatterns: list[URLPattern] = []
