from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Release state"
    default_auto_field = "django.db.models.BigAutoField"
