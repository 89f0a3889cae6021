"""Deleting image owners from the admin: any user, any number of images, tokens or not.

Django's stock user admin cannot delete a big shop: its confirmation page lists every related
object (50,000 images: a 5 MB page), the delete sends a signal and an INSERT per image, and a
user who ever had an OAuth token cannot be deleted at all (django-oauth-toolkit's token admins
refuse deletes, so the admin reports the tokens as objects the staff member may not delete).
``ImageOwnerAdminMixin`` changes three things on the project's user admin:

- the confirmation page counts what goes, per kind, instead of listing it;
- the user's OAuth applications, tokens and grants go with the user (they cascade);
- the images go through ``deletion.delete_images``: files queued and rows deleted in batches.

The project registers it for its user model::

    admin.site.unregister(User)
    admin.site.register(User, images_app.admin_owners.UserAdmin)
"""

from __future__ import annotations

from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models, router
from django.http import HttpRequest

from .deletion import delete_images
from .models import Image


class ImageOwnerAdminMixin:
    """For a ModelAdmin of the user model (or any model that owns images)."""

    def get_deleted_objects(self, objs, request: HttpRequest):
        """A summary, a line per kind of related object, with counts; not every object."""
        owners = list(objs)
        opts = self.model._meta
        summary = [f"{opts.verbose_name.capitalize()}: {owner}" for owner in owners]
        counts = {opts.verbose_name_plural: len(owners)}
        protected = []
        for relation in opts.related_objects:
            if relation.many_to_many or relation.on_delete is models.DO_NOTHING:
                continue
            related = relation.related_model._base_manager.filter(
                **{f"{relation.field.name}__in": owners}
            )
            count = related.count()
            if not count:
                continue
            name = relation.related_model._meta.verbose_name_plural
            if relation.on_delete is models.PROTECT:
                protected.append(f"{count:,} {name} (protected: delete them first)")
                continue
            counts[name] = counts.get(name, 0) + count
            note = " and their stored files" if relation.related_model is Image else ""
            summary.append(f"{count:,} {name}{note}")
        return summary, counts, set(), protected

    def delete_model(self, request: HttpRequest, obj) -> None:
        self._delete_images(request, [obj.pk])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        self._delete_images(request, list(queryset.values_list("pk", flat=True)))
        super().delete_queryset(request, queryset)

    def _delete_images(self, request: HttpRequest, owner_ids: list) -> None:
        using = router.db_for_write(Image)
        delete_images(Image.objects.using(using).filter(owner_id__in=owner_ids))


class UserAdmin(ImageOwnerAdminMixin, DjangoUserAdmin):
    """Django's user admin, able to delete users with many images and with OAuth tokens."""
