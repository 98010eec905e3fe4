from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Staff read; nobody, superusers included, adds, changes or deletes here (append-only data)."""

    actions = None  # no bulk delete either

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
