from django.urls import path

from accounts import views

urlpatterns = [
    path("account/", views.home, name="home"),
    path("api-keys/", views.api_key_create, name="api-key-create"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("access-recovery/", views.access_recovery, name="access-recovery"),
]
