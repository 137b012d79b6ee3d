from django.apps import AppConfig


class DeployConfig(AppConfig):
    name = "deploy"
    verbose_name = "Staged release"
    default_auto_field = "django.db.models.BigAutoField"
