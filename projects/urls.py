from django.urls import path

from projects import api
from projects.funnels import api as funnels_api
from projects.sending import api as sending_api

urlpatterns = [
    path("projects/", api.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", api.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<int:project_id>/statistics/", api.StatisticsApi.as_view(), name="api-project-statistics"),
    path("projects/<int:project_id>/members/", api.MemberListApi.as_view(), name="api-project-members"),
    path("projects/<int:project_id>/members/<int:member_id>/", api.MemberDetailApi.as_view(), name="api-project-member"),
    path("projects/<int:project_id>/subscribers/", api.SubscriberListApi.as_view(), name="api-project-subscribers"),
    path("projects/<int:project_id>/subscribers/import/", api.SubscriberImportApi.as_view(), name="api-project-subscribers-import"),
    path(
        "projects/<int:project_id>/subscribers/<int:subscriber_id>/unsubscribe/",
        api.SubscriberUnsubscribeApi.as_view(),
        name="api-project-subscriber-unsubscribe",
    ),
    path("projects/<int:project_id>/address-books/", api.AddressBookListApi.as_view(), name="api-project-address-books"),
    path("projects/<int:project_id>/address-books/<int:book_id>/contacts/", api.ContactListApi.as_view(), name="api-address-book-contacts"),
    path(
        "projects/<int:project_id>/address-books/<int:book_id>/contacts/import/",
        api.ContactImportApi.as_view(),
        name="api-address-book-contacts-import",
    ),
    path("projects/<int:project_id>/bot/", sending_api.BotApi.as_view(), name="api-project-bot"),
    path("projects/<int:project_id>/funnels/", funnels_api.FunnelListApi.as_view(), name="api-project-funnels"),
    path("projects/<int:project_id>/funnels/<int:funnel_id>/", funnels_api.FunnelDetailApi.as_view(), name="api-project-funnel"),
    path("projects/<int:project_id>/broadcasts/", sending_api.BroadcastListApi.as_view(), name="api-project-broadcasts"),
    path("projects/<int:project_id>/broadcasts/<int:broadcast_id>/", sending_api.BroadcastDetailApi.as_view(), name="api-project-broadcast"),
    path(
        "projects/<int:project_id>/broadcasts/<int:broadcast_id>/cancel/",
        sending_api.BroadcastCancelApi.as_view(),
        name="api-project-broadcast-cancel",
    ),
    path("public/subscribe/", api.PopupSubscribeApi.as_view(), name="api-public-subscribe"),
]
