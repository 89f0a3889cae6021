"""The admin's upload form: a file, a type and an owner, stored through the model's pipeline."""

from __future__ import annotations

import logging

from django import forms
from django.core.exceptions import ValidationError

from .conf import app_settings
from .models import Image
from .pipeline import human_size, size_error
from .rendering import InvalidImage
from .rendering.formats import listed
from .storage import StorageFailure

logger = logging.getLogger(__name__)

STORAGE_UNAVAILABLE = (
    "Image storage is unavailable, so nothing was stored. Try again in a moment; if it keeps "
    "failing, check the storage settings and the server log."
)


class ImageUploadForm(forms.ModelForm):
    """Uploads through ``Image.objects.create_from_upload``, so the API's limits and messages apply.

    Only the pipeline can tell whether a file is an image we accept and whether storage is up, so
    the image is stored while the form is validated and its problems come back as form errors.
    The admin's add view runs in one transaction, which then commits the row; ``save()`` returns
    the stored image.
    """

    file = forms.FileField(
        label="Image file",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )

    class Meta:
        model = Image
        fields = ["file", "type", "owner"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"{listed(app_settings.FORMATS)}, up to {human_size(app_settings.MAX_BYTES)} and "
            f"{app_settings.MAX_PIXELS / 1_000_000:g} megapixels. Renditions are made on upload."
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        error = size_error(upload.size)
        if error:
            raise ValidationError(error, code="too_large")
        return upload

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:  # a bad type, owner or file: store nothing
            return cleaned
        try:
            self.instance = Image.objects.create_from_upload(
                owner=cleaned["owner"], type=cleaned["type"], data=cleaned["file"].read()
            )
        except InvalidImage as exc:
            self.add_error("file", str(exc))
        except StorageFailure:
            logger.warning("images_app: admin upload failed on storage", exc_info=True)
            raise ValidationError(STORAGE_UNAVAILABLE, code="storage_unavailable") from None
        return cleaned

    def save(self, commit: bool = True) -> Image:
        """The image ``clean()`` stored; there is nothing left to write."""
        self.save_m2m = self._save_m2m  # the admin calls it after save(commit=False)
        return self.instance
