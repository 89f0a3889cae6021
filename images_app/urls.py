"""Include under any prefix: ``path("api/", include("images_app.urls"))``."""

from django.urls import path, re_path

from .views import ImageViewSet

app_name = "images_app"

image_list = ImageViewSet.as_view({"get": "list", "post": "create"})
image_detail = ImageViewSet.as_view({"get": "retrieve", "delete": "destroy"})

urlpatterns = [
    path("images/", image_list, name="image-list"),
    path("images", image_list),
    re_path(r"^images/(?P<pk>-?[0-9]{1,18})/?$", image_detail, name="image-detail"),
]
