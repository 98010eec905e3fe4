from django.urls import path

from billing import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("billing/", views.billing, name="billing"),
    path("billing/card/", views.card_save, name="billing-card"),
    path("billing/card/remove/", views.card_remove, name="billing-card-remove"),
    path("billing/top-up/", views.top_up, name="billing-top-up"),
    path("billing/activate/", views.activate, name="billing-activate"),
    path("billing/deactivate/", views.deactivate, name="billing-deactivate"),
    path("billing/period/", views.period, name="billing-period"),
    path("billing/invoices/<str:number>/pdf/", views.invoice_pdf, name="billing-invoice-pdf"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/delete-account/", views.delete_account, name="privacy-delete-account"),
]
