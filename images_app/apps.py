from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ImagesAppConfig(AppConfig):
    name = "images_app"
    verbose_name = "Images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps

        from . import checks  # noqa: F401  (registers the system checks)
        from .deletion import on_image_deleted
        from .idempotency import on_image_stored
        from .models import Image

        # Every way a row goes (delete(), bulk and admin deletes, an owner's cascade) queues its
        # files and deletes them once the transaction commits.
        post_delete.connect(on_image_deleted, sender=Image, dispatch_uid="images_app.files")
        # An upload with an Idempotency-Key links its key to the image in the image's INSERT.
        post_save.connect(on_image_stored, sender=Image, dispatch_uid="images_app.idempotency")
        if apps.is_installed("drf_spectacular"):
            from . import schema  # noqa: F401  (registers the OpenAPI extensions)
