"""The images API in OpenAPI 3, for drf-spectacular. Only imported where drf-spectacular is used.

``ImagesAppConfig.ready()`` imports this module only when ``drf_spectacular`` is installed, so
the app works without it (``tests/test_openapi.py`` checks both). Importing it registers the
extensions below: the OAuth2 scheme for the app's bearer authentication, the annotated view,
and the rendition-name map. A project serving the schema wires it like this:

    REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema", ...}
    SPECTACULAR_SETTINGS = {"PREPROCESSING_HOOKS": ["images_app.schema.preprocess_endpoints"],
                            "OAUTH2_FLOWS": ["clientCredentials"], "OAUTH2_TOKEN_URL": "/o/token/",
                            ...}

The hook drops the paths without a trailing slash, so each operation is listed once. What
depends on settings (versions, rendition names) is read when the schema is generated.
"""

from __future__ import annotations

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.extensions import OpenApiSerializerFieldExtension, OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import serializers

from .conf import app_settings
from .exceptions import CATALOGUE, ApiError, SerializerError
from .models import ImageType
from .serializers import IMAGE_FIELD_SINCE, TYPE_SINCE
from .specs import ORIGINAL, aliases, rendition_specs

ERROR_SCHEMA = {
    "type": "object",
    "required": ["fields", "description", "key"],
    "properties": {
        "fields": {
            "type": "object",
            "description": "Field name -> messages; `{}` where no field is at fault.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "description": {
            "type": "string",
            "description": "`Serialization error` for field problems; else what went wrong.",
        },
        "key": {
            "type": "string",
            "enum": [entry.key() for entry in CATALOGUE],
            "description": "Stable error key, one per kind of error (the catalogue in "
            "images_app.exceptions).",
        },
    },
}


@extend_schema_field(ERROR_SCHEMA)
class _ErrorField(serializers.JSONField):
    pass


class ErrorEnvelopeSerializer(serializers.Serializer):
    """Every error the API answers, whatever the status."""

    error = _ErrorField()


class RenditionUrlsField(serializers.DictField):
    """``{name: absolute URL}``: every rendition, every alias and ``original``."""


class RenditionUrlsFieldExtension(OpenApiSerializerFieldExtension):
    """The rendition names as configured when the schema is generated."""

    target_class = RenditionUrlsField

    def map_serializer_field(self, auto_schema, direction) -> dict:
        names = [spec.name for spec in rendition_specs()] + list(aliases()) + [ORIGINAL]
        url = {"type": "string", "format": "uri"}
        return {
            "type": "object",
            "description": "Absolute URL of each rendition, alias and the original upload.",
            "properties": {name: url for name in names},
            "required": names,
            "additionalProperties": url,
        }


TYPE_HELP = "Index of the image type: " + ", ".join(
    f"{label} {value}" for value, label in ImageType.choices
)


class ImageUploadResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Negative (the legacy bug) for X-Api-Version <= 7.")
    urls = RenditionUrlsField()
    type = serializers.ChoiceField(choices=ImageType.choices, help_text=TYPE_HELP)
    new = serializers.BooleanField(help_text="Always true.")


class ImageDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Negative (the legacy bug) for X-Api-Version <= 7.")
    urls = RenditionUrlsField()
    type = serializers.ChoiceField(choices=ImageType.choices, help_text=TYPE_HELP)
    width = serializers.IntegerField(help_text="Of the upload, EXIF orientation applied.")
    height = serializers.IntegerField()
    format = serializers.CharField(help_text="Of the upload: JPEG, PNG, GIF, WEBP, AVIF, HEIF.")
    bytes = serializers.IntegerField(help_text="Of the upload as sent.")
    created = serializers.DateTimeField()


@extend_schema_field({"type": "string", "format": "binary"})
class _FileField(serializers.FileField):
    pass


class ImageUploadSerializer(serializers.Serializer):
    """The multipart body as the default (latest) version takes it."""

    image = _FileField(
        help_text=f"The image file (X-Api-Version >= {IMAGE_FIELD_SINCE}). JPEG, PNG, GIF, "
        "WebP, AVIF or HEIC, sniffed from its bytes; the filename and part Content-Type are "
        "ignored."
    )
    type = serializers.ChoiceField(
        choices=ImageType.labels,
        help_text=f"What the image is for (required from X-Api-Version {TYPE_SINCE}).",
    )
    product_image = _FileField(
        required=False,
        help_text=f"The image file for X-Api-Version < {IMAGE_FIELD_SINCE}, instead of `image`.",
    )


def version_parameter() -> OpenApiParameter:
    low, high = app_settings.MIN_VERSION, app_settings.MAX_VERSION
    default, negative = app_settings.DEFAULT_VERSION, app_settings.NEGATIVE_ID_MAX_VERSION
    return OpenApiParameter(
        "X-Api-Version",
        {"type": "integer", "minimum": low, "maximum": high, "default": default},
        OpenApiParameter.HEADER,
        description=(
            f"API version, a whole number from {low} to {high}; without the header, {default}. "
            f"Anything else answers 406 (`common.invalid_version`).\n\n"
            "| version | `type` | image file field |\n| --- | --- | --- |\n"
            f"| {low}-{TYPE_SINCE - 1} | not a field (a product image) | `product_image` |\n"
            f"| {TYPE_SINCE}-{IMAGE_FIELD_SINCE - 1} | required | `product_image` |\n"
            f"| {IMAGE_FIELD_SINCE}+ | required | `image` |\n\n"
            + (f"Versions <= {negative} answer with negative ids." if negative is not None else "")
        ),
    )


def fields_by_version() -> dict:
    """``x-fields-by-version``: which body fields each version takes, for Swagger UI's form.

    OpenAPI 3.0 cannot tie a request body to a header, so the rule travels as an extension that
    the docs page's plugin (``images_app/swagger_ui.js``) reads to show the chosen version's fields.
    """
    low, high = app_settings.MIN_VERSION, app_settings.MAX_VERSION
    ranges = [
        (low, TYPE_SINCE - 1, ["product_image"]),
        (TYPE_SINCE, IMAGE_FIELD_SINCE - 1, ["product_image", "type"]),
        (IMAGE_FIELD_SINCE, high, ["image", "type"]),
    ]
    return {
        "header": "X-Api-Version",
        "default": app_settings.DEFAULT_VERSION,
        "ranges": [
            {"from": start, "to": end, "fields": fields}
            for start, end, fields in ranges
            if start <= end
        ],
    }


ID_PARAMETER = OpenApiParameter(
    "id",
    {"type": "integer", "minimum": -(10**18) + 1, "maximum": 10**18 - 1},
    OpenApiParameter.PATH,
    description="The image id; its negative (as versions <= 7 answer) finds the same image.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    description="Optional. A retry with the same key (same user, within 24 h) answers with the "
    "first answer and stores nothing again; the same key with another request is 422 "
    "(`common.idempotency_mismatch`), while the first is still running 409 "
    "(`common.idempotency_conflict`).",
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401], description="Bearer …"
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, response=[429], description="Seconds to wait."
)


def example_of(entry: type[ApiError]) -> OpenApiExample:
    """The envelope an entry answers with, as a response example for its status."""
    fields = {"image": ["This field is required."]} if entry is SerializerError else None
    return OpenApiExample(
        entry.__name__,
        value=entry.envelope(fields=fields),
        summary=entry.key(),
        description=entry.when,
        response_only=True,
        status_codes=[str(entry.status_code)],
    )


def error(status_code: int) -> OpenApiResponse:
    """The envelope for one status: each key it can carry, with its real body as an example."""
    entries = [entry for entry in CATALOGUE if entry.status_code == status_code]
    description = "; ".join(f"`{entry.key()}`: {entry.when}" for entry in entries)
    return OpenApiResponse(
        ErrorEnvelopeSerializer,
        description=description + ".",
        examples=[example_of(entry) for entry in entries],
    )


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: error(code) for code in codes}


UPLOAD_EXAMPLE = OpenApiExample(
    "upload",
    response_only=True,
    value={
        "id": 752729,
        "urls": {
            name: f"https://cdn.example.com/uploads/1627/product/abc/{name}.jpg"
            for name in (
                "ipad",
                "thumb",
                "image",
                "ipad_retina",
                "ebay",
                "thumb_retina",
                "original",
            )
        },
        "type": 0,
        "new": True,
    },
)


def annotate(view_class):
    """The image viewset, annotated: each action's body, answers and parameters."""
    common = [version_parameter(), WWW_AUTHENTICATE]
    return extend_schema_view(
        create=extend_schema(
            summary="Upload an image",
            description="Renders every rendition before answering. **200, not 201.** "
            "The fields depend on `X-Api-Version` (see the parameter).",
            request={"multipart/form-data": ImageUploadSerializer},
            responses={
                200: OpenApiResponse(ImageUploadResponseSerializer, "Stored; every URL works."),
                **errors(400, 401, 403, 406, 409, 411, 413, 415, 422, 429, 500, 503),
            },
            parameters=[*common, IDEMPOTENCY_KEY, RETRY_AFTER],
            examples=[UPLOAD_EXAMPLE],
            extensions={"x-fields-by-version": fields_by_version()},
        ),
        list=extend_schema(
            summary="List the caller's images",
            description="The caller's own images, newest first, paginated.",
            responses={
                200: OpenApiResponse(ImageDetailSerializer(many=True), "A page of images."),
                **errors(401, 403, 404, 406, 500, 503),
            },
            parameters=common,
        ),
        retrieve=extend_schema(
            summary="One of the caller's images",
            description="Another owner's image is a 404, never a 403.",
            responses={
                200: OpenApiResponse(ImageDetailSerializer, "The image and its URLs."),
                **errors(401, 403, 404, 406, 500, 503),
            },
            parameters=[*common, ID_PARAMETER],
        ),
        destroy=extend_schema(
            summary="Delete an image and all its files",
            description="The row and every stored file go; if storage fails midway, the image "
            "either stays whole (503) or is gone at once with its files queued for deletion.",
            responses={
                204: OpenApiResponse(description="Gone, with every stored file."),
                **errors(401, 403, 404, 406, 500, 503),
            },
            parameters=[*common, ID_PARAMETER],
        ),
    )(type(view_class.__name__, (view_class,), {"__doc__": view_class.__doc__, **SCHEMA_ONLY}))


# The version is a header drf-spectacular does not know; it is documented as a parameter.
SCHEMA_ONLY = {"versioning_class": None}


class ImageViewSetSchema(OpenApiViewExtension):
    target_class = "images_app.views.ImageViewSet"
    match_subclasses = True

    def view_replacement(self):
        return annotate(self.target)


class BearerTokenScheme(DjangoOAuthToolkitScheme):
    """Two ways to send the same bearer token: the OAuth2 flow, or a pasted token.

    ``oauth2`` is django-oauth-toolkit's scheme (Swagger UI fetches a token from ``/o/token/``
    with a client id and secret); ``bearer`` is a plain HTTP bearer field for a token that
    ``issue_token`` (or ``make run``) printed. Either one is enough.
    """

    target_class = "images_app.authentication.BearerTokenAuthentication"
    match_subclasses = True
    priority = 1
    name = ["oauth2", "bearer"]

    def get_security_requirement(self, auto_schema) -> list[dict]:
        view = auto_schema.view
        scopes = list(getattr(view, "required_scopes", []))
        return [{"oauth2": scopes}, {"bearer": []}]

    def get_security_definition(self, auto_schema) -> list[dict]:
        bearer = {
            "type": "http",
            "scheme": "bearer",
            "description": "A token with the `images` scope, as `manage.py issue_token` or "
            "`make run` print it.",
        }
        return [super().get_security_definition(auto_schema), bearer]


class SwaggerView(SpectacularSwaggerView):
    """drf-spectacular's Swagger UI, plus a plugin that shows the chosen version's fields.

    ``path("api/docs/", SwaggerView.as_view(url_name="schema"))``.
    """

    template_name_js = "images_app/swagger_ui.js"


def preprocess_endpoints(endpoints: list, **kwargs) -> list:
    """One path per operation: drop the images API's aliases without the trailing slash."""
    paths = {path for path, *_ in endpoints}
    return [endpoint for endpoint in endpoints if endpoint[0] + "/" not in paths]
