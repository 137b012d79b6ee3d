from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications (inbox and email)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The one place audit events become notifications (notifications/services.py).
        from django.db.models.signals import post_save

        from core.models import AuditEvent
        from notifications.services import audit_event_saved

        post_save.connect(audit_event_saved, sender=AuditEvent, dispatch_uid="notifications.audit_event_saved")
