from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo world (`manage.py demo`). It sits above every domain app and
    uses only their services, the same way an operator or a client would."""

    name = "demo"
    verbose_name = "Demo world"
