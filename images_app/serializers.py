"""Upload and read serializers; which fields exist depends on ``request.version``."""

from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers

from .conf import app_settings
from .exceptions import clip
from .models import Image, ImageType
from .pipeline import size_error
from .rendering import InvalidImage
from .specs import ORIGINAL, aliases

# Versions from which `type` is a field, and from which the file is `image`, not `product_image`.
TYPE_SINCE = 3
IMAGE_FIELD_SINCE = 8


def file_field_name(version: int) -> str:
    return "image" if version >= IMAGE_FIELD_SINCE else "product_image"


def public_id(image: Image, version: int) -> int:
    """The id a client of ``version`` sees: negative up to v7 (the legacy bug, kept)."""
    cutoff = app_settings.NEGATIVE_ID_MAX_VERSION
    return -image.pk if cutoff is not None and version <= cutoff else image.pk


class ImageFileField(serializers.FileField):
    """The upload as bytes, size-checked; format and pixels are checked by the model pipeline."""

    default_error_messages = {
        "required": "This field is required.",  # the legacy wording, not DRF's "No file was…"
        "invalid": "The submitted data was not a file. Send it as a multipart file part.",
        "empty": "The submitted file is empty.",
    }

    def to_internal_value(self, data) -> bytes:
        if not isinstance(data, UploadedFile):
            self.fail("invalid")
        error = size_error(data.size)
        if error:
            raise serializers.ValidationError(error)
        if data.size == 0:
            self.fail("empty")
        return data.read()


class ClippedChoiceField(serializers.ChoiceField):
    """A choice field whose "is not a valid choice" quotes a few dozen characters at most.

    A body sent with another request's boundary arrives here whole, as the value of ``type``.
    """

    def fail(self, key: str, **kwargs):
        if "input" in kwargs:
            kwargs["input"] = clip(kwargs["input"])
        return super().fail(key, **kwargs)


class ImageUploadSerializer(serializers.Serializer):
    """``product_image`` (v1-7) or ``image`` (v8+), and ``type`` from v3."""

    def get_fields(self) -> dict:
        version = self.context["request"].version
        fields = {file_field_name(version): ImageFileField()}
        if version >= TYPE_SINCE:
            fields["type"] = ClippedChoiceField(choices=ImageType.labels)
        return fields

    def create(self, validated_data: dict) -> Image:
        request = self.context["request"]
        field = file_field_name(request.version)
        type_name = validated_data.get("type", ImageType.PRODUCT.label)
        try:
            return Image.objects.create_from_upload(
                owner=request.user, type=ImageType[type_name.upper()], data=validated_data[field]
            )
        except InvalidImage as exc:
            raise serializers.ValidationError({field: [str(exc)]}) from exc

    def to_representation(self, image: Image) -> dict:
        version = self.context["request"].version
        return {
            "id": public_id(image, version),
            "urls": rendition_urls(image, self.context["request"]),
            "type": image.type,
            "new": True,
        }


def rendition_urls(image: Image, request) -> dict[str, str]:
    """{name: absolute URL} for every rendition, each alias and the original."""
    urls = {name: request.build_absolute_uri(image.url(name)) for name in image.renditions}
    for alias, target in aliases().items():
        if target in urls:
            urls[alias] = urls[target]
    urls[ORIGINAL] = request.build_absolute_uri(image.url(ORIGINAL))
    return urls


class ImageSerializer(serializers.Serializer):
    """One stored image, as GET answers."""

    def to_representation(self, image: Image) -> dict:
        request = self.context["request"]
        return {
            "id": public_id(image, request.version),
            "urls": rendition_urls(image, request),
            "type": image.type,
            "width": image.width,
            "height": image.height,
            "format": image.format,
            "bytes": image.bytes,
            "created": serializers.DateTimeField().to_representation(image.created),
        }
