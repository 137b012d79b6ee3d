from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Stagegate core (organisations, people, audit trail)"
    default_auto_field = "django.db.models.BigAutoField"
