from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Stagegate core (organisations, people, audit trail)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import login_throttle, schema  # noqa: F401 - signal receivers; the OpenAPI auth extension
