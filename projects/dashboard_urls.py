from django.urls import path

from projects import views
from projects.funnels import views as funnel_views
from projects.sending import views as sending_views

urlpatterns = [
    path("projects/", views.project_list, name="projects"),
    path("projects/<int:project_id>/", views.project_detail, name="project"),
    path("projects/<int:project_id>/settings/", views.project_update, name="project-update"),
    path("projects/<int:project_id>/subscribers/", views.subscriber_add, name="project-subscriber-add"),
    path("projects/<int:project_id>/subscribers/<int:subscriber_id>/unsubscribe/", views.subscriber_unsubscribe, name="project-unsubscribe"),
    path("projects/<int:project_id>/address-books/", views.address_book_add, name="project-address-book-add"),
    path("projects/<int:project_id>/address-books/<int:book_id>/", views.address_book_detail, name="project-address-book"),
    path("projects/<int:project_id>/members/", views.member_add, name="project-member-add"),
    path("projects/<int:project_id>/members/<int:member_id>/remove/", views.member_remove, name="project-member-remove"),
    path("projects/<int:project_id>/funnels/", funnel_views.funnel_list, name="project-funnels"),
    path("projects/<int:project_id>/funnels/new/", funnel_views.funnel_edit, name="project-funnel-new"),
    path("projects/<int:project_id>/funnels/<int:funnel_id>/", funnel_views.funnel_edit, name="project-funnel"),
    path("projects/<int:project_id>/funnels/<int:funnel_id>/delete/", funnel_views.funnel_delete, name="project-funnel-delete"),
    path("projects/<int:project_id>/broadcasts/", sending_views.broadcast_list, name="project-broadcasts"),
    path("projects/<int:project_id>/broadcasts/<int:broadcast_id>/cancel/", sending_views.broadcast_cancel, name="project-broadcast-cancel"),
    path("projects/<int:project_id>/bot/", sending_views.bot_settings, name="project-bot"),
]
