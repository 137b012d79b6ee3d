from django.urls import path

from notifications import apis

urlpatterns = [
    path("notifications", apis.NotificationListApi.as_view(), name="notification-list"),
    path("notifications/<uuid:pk>/read", apis.NotificationReadApi.as_view(), name="notification-read"),
]
