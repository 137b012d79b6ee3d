"""The inbox page: a person's own notifications, newest first, and marking
them read. Reads through notifications.selectors, writes through
notifications.services, like the API."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.errors import InvalidInput
from notifications import selectors, services
from portal.views import portal_view

PAGE = 100


@portal_view
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get("all") == "1":
            count = services.notifications_mark_all_read(user=request.user)
            messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
            return redirect("portal:notifications")
        pk = request.POST.get("notification", "")
        if not pk:
            raise InvalidInput("Name a notification.", errors={"notification": ["This field is required."]})
        notification = selectors.notification_get(user=request.user, pk=pk)  # 404 unless one's own
        services.notification_mark_read(user=request.user, notification=notification)
        return redirect("portal:notifications")
    unread_only = request.GET.get("unread") == "1"
    items = list(selectors.notification_list(user=request.user, unread_only=unread_only)[:PAGE])
    context = {
        "items": items,
        "unread_only": unread_only,
        "unread": selectors.unread_count(user=request.user),
    }
    return render(request, "portal/notifications.html", context)
