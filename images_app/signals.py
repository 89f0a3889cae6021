"""Every way an Image row goes (delete(), queryset and admin bulk deletes, a cascade from its
owner) takes its files with it: queued in the same transaction, deleted once it commits."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Image
from .pipeline import queue_deletion


@receiver(post_delete, sender=Image, dispatch_uid="images_app.queue_files")
def queue_files(sender, instance: Image, **kwargs) -> None:
    queue_deletion(instance.stored_keys())
