from django.urls import path

from projects import views

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
]
