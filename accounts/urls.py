from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register/", api.RegisterApi.as_view(), name="api-register"),
    path("auth/token/", api.TokenApi.as_view(), name="api-token"),
    path("auth/access-recovery/", api.AccessRecoveryApi.as_view(), name="api-access-recovery"),
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("api-keys/", api.ApiKeyListApi.as_view(), name="api-keys"),
    path("api-keys/<int:id>/", api.ApiKeyDetailApi.as_view(), name="api-key-detail"),
]
