from django.urls import path

from billing import api

urlpatterns = [
    path("billing/", api.SummaryApi.as_view(), name="api-billing"),
    path("billing/deletion/", api.DeletionTermsApi.as_view(), name="api-billing-deletion"),
    path("billing/prices/", api.PricesApi.as_view(), name="api-billing-prices"),
    path("billing/card/", api.CardApi.as_view(), name="api-billing-card"),
    path("billing/backup-card/", api.BackupCardApi.as_view(), name="api-billing-backup-card"),
    path("billing/upcoming/", api.UpcomingApi.as_view(), name="api-billing-upcoming"),
    path("billing/activate/", api.ActivateApi.as_view(), name="api-billing-activate"),
    path("billing/deactivate/", api.DeactivateApi.as_view(), name="api-billing-deactivate"),
    path("billing/period/", api.PeriodApi.as_view(), name="api-billing-period"),
    path("billing/topup/", api.TopUpApi.as_view(), name="api-billing-topup"),
    path("billing/ledger/", api.LedgerApi.as_view(), name="api-billing-ledger"),
    path("billing/invoices/", api.InvoiceListApi.as_view(), name="api-billing-invoices"),
    path("billing/invoices/<str:number>/pdf/", api.InvoicePdfApi.as_view(), name="api-billing-invoice-pdf"),
]
