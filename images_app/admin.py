from django.contrib import admin

from .models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "type", "width", "height", "bytes", "created"]
    list_filter = ["type"]
