"""The Django app `psu_sched` (add it to INSTALLED_APPS): it registers the system checks."""

from django.apps import AppConfig


class PsuSchedConfig(AppConfig):
    name = "psu_sched"
    verbose_name = "psu-sched"

    def ready(self) -> None:
        # Importing the module registers its system checks.
        from . import django  # noqa: F401
