from django.urls import include, path, re_path

from images_app.views import serve_file

urlpatterns = [
    path("v2/", include("images_app.urls")),
    re_path(r"^files/(?P<key>.+)$", serve_file),
]
