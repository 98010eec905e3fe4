from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import choose_language
from compliance.views import cookie_choice, legal_accept, legal_document, privacy_download
from core.health import HealthView, ReadyView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", HealthView.as_view(), name="health"),  # every check, for monitoring (issue 17, item 6)
    path("health/ready/", ReadyView.as_view(), name="health-ready"),  # this node can serve: the load balancer's probe
    path("accounts/", include("allauth.urls")),
    path("legal/accept/", legal_accept, name="legal_accept"),
    path("cookies/", cookie_choice, name="cookie_choice"),
    path("i18n/setlang/", choose_language, name="set_language"),
    path("privacy/download/<str:token>/", privacy_download, name="privacy_download"),
    path("legal/<str:kind>/", legal_document, name="legal_document"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # No OPTIONS metadata: the page's HTML renderer has no template for it (a 500); 405 instead (issue 17).
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", metadata_class=None), name="api-docs"),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("projects.urls")),
    path("api/v1/", include("billing.urls")),
    path("api/v1/", include("compliance.urls")),
    path("webhooks/", include("projects.webhook_urls")),
    path("", include("config.dashboard_urls")),
]

handler404 = "core.views.not_found"
