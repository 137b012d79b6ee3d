from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "evals"
    verbose_name = "Evaluation suites and runs"
    default_auto_field = "django.db.models.BigAutoField"
