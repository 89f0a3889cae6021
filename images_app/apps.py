from django.apps import AppConfig


class ImagesAppConfig(AppConfig):
    name = "images_app"
    verbose_name = "Images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps

        from . import checks, signals  # noqa: F401  (registers checks and receivers)

        if apps.is_installed("drf_spectacular"):
            from . import schema  # noqa: F401  (registers the OpenAPI extensions)
