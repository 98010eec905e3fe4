from django.urls import path

from compliance import api

urlpatterns = [
    path("legal/documents/", api.LegalDocumentsApi.as_view(), name="api-legal-documents"),
    path("legal/accept/", api.LegalAcceptApi.as_view(), name="api-legal-accept"),
    path("complaints/", api.ComplaintListApi.as_view(), name="api-complaints"),
    path("privacy/requests/", api.PrivacyRequestListApi.as_view(), name="api-privacy-requests"),
    path("privacy/export/", api.PrivacyExportApi.as_view(), name="api-privacy-export"),
    path("consents/marketing/", api.MarketingConsentApi.as_view(), name="api-consent-marketing"),
    path("consents/cookies/", api.CookieConsentApi.as_view(), name="api-consent-cookies"),
]
