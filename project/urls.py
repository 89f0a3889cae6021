from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from images_app.admin_owners import UserAdmin
from images_app.schema import SwaggerView
from images_app.views import serve_file

# Users with 50,000 images, or with OAuth tokens, can be deleted from the admin
# (images_app/admin_owners.py).
admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    # OpenAPI 3 (YAML; ?format=json for JSON) and Swagger UI, self-hosted (drf-spectacular-sidecar).
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("images_app.urls")),
]

if settings.SERVE_MEDIA:
    urlpatterns.append(re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<key>.+)$", serve_file))
