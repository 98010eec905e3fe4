from django.urls import path

from projects import views

urlpatterns = [
    path("telegram/<str:token>/", views.telegram_webhook, name="telegram-webhook"),
]
