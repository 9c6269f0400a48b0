from django.apps import AppConfig


class IbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ib"
