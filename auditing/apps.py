from django.apps import AppConfig


class AuditingConfig(AppConfig):
    name = "auditing"
    verbose_name = "Auditing: certification, conflicts, audits, fees"
    default_auto_field = "django.db.models.BigAutoField"
