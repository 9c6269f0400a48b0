from django.apps import AppConfig


class SimConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sim"
    verbose_name = "Simulators (demo and tests only)"
