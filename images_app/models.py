"""The Image model: a row per upload, its files in the configured storage.

An upload enters through ``Image.objects.create_from_upload``, which hands the bytes to
``Image.save(source=...)``: the save hook stores the files (``pipeline.store_upload``), then
inserts the row. A row's files go through ``deletion.py`` (see ``docs/codemap.md``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models, router, transaction

from .deletion import PendingDeletion, delete_files
from .fields import Rendition, RenditionsField
from .idempotency import IdempotencyKey
from .pipeline import StoredUpload, store_upload
from .storage import file_url, get_storage, new_key_prefix

__all__ = ["IdempotencyKey", "Image", "ImageType", "PendingDeletion", "Rendition"]


class ImageType(models.IntegerChoices):
    """What the image is for; the API answers with the index (product 0 … category 3)."""

    PRODUCT = 0, "product"
    ACCOUNT = 1, "account"
    USER = 2, "user"
    CATEGORY = 3, "category"


class ImageManager(models.Manager):
    def create_from_upload(self, *, owner, type: int, data: bytes) -> Image:
        """Render and store ``data``, then insert the row; raises InvalidImage or StorageFailure."""
        image = self.model(owner=owner, type=type)
        image.save(source=data, force_insert=True)
        return image


class Image(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images_app_images"
    )
    type = models.PositiveSmallIntegerField(choices=ImageType.choices, default=ImageType.PRODUCT)
    # uploads/<owner>/<type>/<token>: every stored file of this image lives below it.
    key_prefix = models.CharField(max_length=200, unique=True, editable=False)
    original_key = models.CharField(max_length=255, editable=False)
    format = models.CharField(max_length=16, editable=False)  # JPEG, PNG, GIF, WEBP, AVIF, HEIF
    width = models.PositiveIntegerField(editable=False)  # as displayed (EXIF orientation applied)
    height = models.PositiveIntegerField(editable=False)
    # Of the stored original: the upload's image data as sent, metadata reduced to the allow-list.
    bytes = models.PositiveBigIntegerField(editable=False)
    checksum = models.CharField(max_length=64, editable=False)  # sha256 of the stored original
    renditions = RenditionsField(default=dict, editable=False)  # name -> Rendition
    created = models.DateTimeField(auto_now_add=True)

    objects = ImageManager()

    class Meta:
        ordering = ["-created", "-id"]
        # One index per way the API and the admin read the table, each ending in the default
        # order (newest first) so a filtered page is a range scan, and the page's ids an
        # index-only one (pagination.py). The admin's other sorts (size, pixels) have their own.
        indexes = [
            models.Index(fields=["-created", "-id"], name="images_app_created_id"),
            models.Index(fields=["owner", "-created", "-id"], name="images_app_owner_created_id"),
            models.Index(fields=["type", "-created", "-id"], name="images_app_type_created_id"),
            models.Index(fields=["format", "-created", "-id"], name="images_app_format_created"),
            models.Index(fields=["bytes", "id"], name="images_app_bytes_id"),
            models.Index(
                models.F("width") * models.F("height"), models.F("id"), name="images_app_pixels_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} image {self.pk} of {self.owner}"

    def save(self, *args, source: bytes | None = None, **kwargs) -> None:
        """Write the row. With ``source`` (a new image's upload), store its files first.

        If the row cannot be written, the files just stored are deleted again.
        """
        if source is None:
            return super().save(*args, **kwargs)
        if not self._state.adding:
            raise ValueError("Image.save(source=...) stores a new image; this one is stored.")
        prefix = new_key_prefix(self.owner_id, self.get_type_display())
        self._take(store_upload(source, prefix))
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        try:
            # Its own (sub)transaction: a failure after the INSERT (a post_save receiver) takes
            # the row back with the files, and an enclosing transaction stays usable, so the
            # files storage would not delete can still be queued.
            with transaction.atomic(using=using):
                super().save(*args, **kwargs)
        except BaseException:
            delete_files(self.stored_keys())
            raise

    def _take(self, stored: StoredUpload) -> None:
        self.key_prefix, self.original_key = stored.key_prefix, stored.original_key
        self.format, self.width, self.height = stored.format, stored.width, stored.height
        self.bytes, self.checksum = stored.bytes, stored.checksum
        self.renditions = stored.renditions

    def stored_keys(self) -> list[str]:
        """Every key this image owns in storage: the original and each rendition."""
        keys = [rendition.key for rendition in self.renditions.values()]
        return [self.original_key, *keys] if self.original_key else keys

    def url(self, name: str) -> str:
        """The storage URL of a rendition (``original`` included); may be relative."""
        key = self.original_key if name == "original" else self.renditions[name].key
        return file_url(get_storage(), key)
