"""The images API: upload, list, read and delete the caller's own images."""

from django.core.exceptions import SuspiciousOperation
from django.http import FileResponse, Http404
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from .authentication import BearerTokenAuthentication, TokenHasImagesScope
from .body import check_body
from .exceptions import exception_handler
from .idempotency import idempotent
from .models import Image
from .pagination import ImagePagination
from .parsers import InMemoryUploadHandler, MultiPartParser
from .renderers import LegacyJSONRenderer
from .rendering.formats import content_type_for
from .serializers import ImageSerializer, ImageUploadSerializer
from .storage import get_storage
from .throttling import UploadRateThrottle
from .versioning import XApiVersionHeaderVersioning


class ImageViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """``POST /api/images/`` answers 200 with ``{id, urls, type, new}``, as the legacy API did."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [TokenHasImagesScope]
    required_scopes = ["images"]
    versioning_class = XApiVersionHeaderVersioning
    parser_classes = [MultiPartParser]
    renderer_classes = [LegacyJSONRenderer]
    throttle_classes = [UploadRateThrottle]
    pagination_class = ImagePagination
    lookup_value_regex = "-?[0-9]+"

    def get_exception_handler(self):
        return exception_handler  # the envelope, whatever the project's REST_FRAMEWORK says

    def get_queryset(self):
        return Image.objects.filter(owner=self.request.user)

    def get_serializer_class(self):
        return ImageUploadSerializer if self.action == "create" else ImageSerializer

    def get_object(self) -> Image:
        """Negative (legacy) ids find the same image; another owner's id is a 404."""
        self.kwargs[self.lookup_field] = abs(int(self.kwargs[self.lookup_field]))
        return super().get_object()

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authentication first: 401 before 413
        check_body(request._request)
        # The body is bounded now: its file part stays in memory (no temporary file).
        request._request.upload_handlers = [InMemoryUploadHandler(request._request)]

    def create(self, request, *args, **kwargs) -> Response:
        return idempotent(  # Idempotency-Key, if sent
            request, lambda: self.store(request), lambda image: self.answer(image)
        )

    def store(self, request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.answer(serializer.save())

    def answer(self, image: Image) -> Response:
        """The upload's answer for ``image``, in the request's version."""
        return Response(self.get_serializer(image).data, status=200)


def serve_file(request, key: str) -> FileResponse:
    """Serve a stored file from the app's storage (the filesystem default has no web server).

    Keys are random; ``rerender_images`` may rewrite a file in place, so caches keep a day.
    """
    storage = get_storage()
    try:
        handle = storage.open(key, "rb")
    except (OSError, SuspiciousOperation) as exc:  # missing, or a path escaping the storage
        raise Http404("No such file.") from exc
    response = FileResponse(handle, content_type=content_type_for(key))
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=86400"
    return response
