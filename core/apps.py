from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Stagegate core (organisations, people, audit trail)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import schema  # noqa: F401 - registers the OpenAPI auth extension
