"""The client dashboard's pages, from every app, in one namespace (`dashboard:`): config is the
one place that sees all apps (DESIGN.md)."""

from accounts.dashboard_urls import urlpatterns as accounts_pages
from billing.dashboard_urls import urlpatterns as billing_pages
from projects.dashboard_urls import urlpatterns as project_pages

app_name = "dashboard"
urlpatterns = [*billing_pages, *project_pages, *accounts_pages]
