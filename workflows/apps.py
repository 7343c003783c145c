from django.apps import AppConfig
from django.db.backends.signals import connection_created


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from thaiyyal import pool_check

        connection_created.connect(pool_check.install, dispatch_uid="thaiyyal-pool-check")
