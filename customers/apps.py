from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Vetted customers (KYC and stage-2 enrolment)"
    default_auto_field = "django.db.models.BigAutoField"
