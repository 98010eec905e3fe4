"""REST endpoints for projects (API.md "Projects"). Access is decided once, by
`ProjectAccessPermission` from each view's `access_rules`; views translate and call services."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import normalize_email
from core.pagination import CursorPagination
from core.throttling import PerIpThrottle
from projects import imports, popup, selectors, services
from projects.access import SECTIONS, Level, Section
from projects.contacts import clean_phone
from projects.models import AddressBook, Contact, Industry, Project, ProjectMember, ProjectRestriction, Subscriber
from projects.permissions import ANY_ACCESS, OWNER, ProjectAccessPermission


class ErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class AccessMap(serializers.DictField):
    child = serializers.ChoiceField(choices=Level.choices)


# --- projects ---------------------------------------------------------------------------------------


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Project.Status.choices)
    industry = serializers.ChoiceField(choices=Industry.choices)
    review = serializers.ChoiceField(choices=Project.Review.choices, help_text="Staff review of the industry (PRJ-7).")
    may_send = serializers.BooleanField(help_text="Active, and cleared by staff where the industry needs it.")
    suspended_for = serializers.SerializerMethodField(help_text="Every reason that holds (PRJ-2); each is lifted on its own.")
    is_owner = serializers.BooleanField(source="caller.is_owner")
    access = AccessMap(source="caller.access", help_text="The caller's level in each section (PRJ-1).")
    active_subscribers = serializers.IntegerField()
    public_key = serializers.CharField(help_text="Names the project in the pop-up form on the client's site.")
    created_at = serializers.DateTimeField()
    telegram_webhook_path = serializers.CharField(required=False, help_text="Only for the owner.")
    telegram_secret = serializers.CharField(required=False, help_text="Only for the owner.")

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ProjectRestriction.Reason.choices)))
    def get_suspended_for(self, project) -> list[str]:
        return [r.reason for r in project.holding]

    def to_representation(self, project):
        data = super().to_representation(project)
        if not project.caller.is_owner:
            del data["telegram_webhook_path"], data["telegram_secret"]
        return data


def _with_caller(project: Project, access) -> Project:
    project.caller = access
    return project


def _project_answer(access, *, status_code: int = 200) -> Response:
    project = selectors.project_with_count(project_id=access.project.pk)
    return Response(ProjectOutput(_with_caller(project, access)).data, status=status_code)


class ProjectListApi(generics.GenericAPIView):
    pagination_class = CursorPagination
    queryset = Project.objects.none()

    class ProjectCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=120)
        industry = serializers.ChoiceField(choices=Industry.choices, required=False, default=Industry.OTHER)

    @extend_schema(operation_id="projects_list", responses=ProjectOutput(many=True))
    def get(self, request):
        """Projects the caller owns or takes part in (PRJ-1), newest first."""
        page = self.paginate_queryset(selectors.visible_projects(client=request.user))
        projects = [_with_caller(p, selectors.access_in_listing(p, client=request.user)) for p in page]
        return self.get_paginated_response(ProjectOutput(projects, many=True).data)

    @extend_schema(
        operation_id="projects_create", request=ProjectCreateInput,
        responses={201: ProjectOutput, 403: ErrorOutput, 409: OpenApiResponse(ErrorOutput, description="`free_project_limit` (TAR-2)")},
    )
    def post(self, request):
        """Create a project; the caller is its owner. Free: two per Free stint (TAR-2)."""
        data = self.ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.create_project(owner=request.user, **data.validated_data)
        return _project_answer(selectors.project_access(client=request.user, project_id=project.pk), status_code=status.HTTP_201_CREATED)


class ProjectScopedApi(generics.GenericAPIView):
    """A view under /projects/<project_id>/: `access_rules` says what each method needs."""

    permission_classes = [IsAuthenticated, ProjectAccessPermission]
    access_rules: dict = {}
    # In the schema (core.schema): the access check refuses any method (403), the write guard an
    # archived project (409 `project_archived`).
    schema_refusals = {"read": {403}, "write": {403, 409}}
    project_access: selectors.ProjectAccess

    @property
    def project(self) -> Project:
        return self.project_access.project


class ProjectDetailApi(ProjectScopedApi):
    access_rules = {"GET": ANY_ACCESS, "PATCH": (Section.SETTINGS, Level.FULL), "DELETE": OWNER}
    queryset = Project.objects.none()

    class ProjectUpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=120, required=False)
        industry = serializers.ChoiceField(choices=Industry.choices, required=False)

    @extend_schema(operation_id="projects_retrieve", responses={200: ProjectOutput, 404: ErrorOutput})
    def get(self, request, project_id: int):
        return _project_answer(self.project_access)

    @extend_schema(operation_id="projects_update", request=ProjectUpdateInput, responses={200: ProjectOutput, 403: ErrorOutput, 404: ErrorOutput})
    def patch(self, request, project_id: int):
        """Rename or change the industry (needs full `settings`)."""
        data = self.ProjectUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.update_project(project=self.project, actor=request.user, **data.validated_data)
        return _project_answer(self.project_access)

    @extend_schema(operation_id="projects_delete", responses={204: None, 403: ErrorOutput, 404: ErrorOutput})
    def delete(self, request, project_id: int):
        """Delete the project (owner only). It still counts against the Free stint (TAR-2)."""
        services.delete_project(project=self.project, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StatisticsApi(ProjectScopedApi):
    access_rules = {"GET": (Section.STATISTICS, Level.VIEW)}
    queryset = Project.objects.none()

    class StatisticsOutput(serializers.Serializer):
        active_subscribers = serializers.IntegerField()
        unsubscribed = serializers.IntegerField()
        telegram = serializers.IntegerField(help_text="Active subscribers who came through Telegram.")

    @extend_schema(operation_id="projects_statistics", responses=StatisticsOutput)
    def get(self, request, project_id: int):
        return Response(self.StatisticsOutput(selectors.project_statistics(project=self.project)).data)


# --- participants --------------------------------------------------------------------------------------


class MemberOutput(serializers.ModelSerializer):
    email = serializers.EmailField(source="client.email")
    name = serializers.CharField(source="client.name")
    access = AccessMap()

    class Meta:
        model = ProjectMember
        fields = ["id", "email", "name", "access", "created_at"]


ACCESS_HELP = f"A level (none, view, full) per section ({', '.join(SECTIONS)}); sections left out are none."


class MemberListApi(ProjectScopedApi):
    access_rules = {"GET": (Section.ACCESS_CONTROL, Level.VIEW), "POST": (Section.ACCESS_CONTROL, Level.FULL)}
    pagination_class = CursorPagination
    queryset = ProjectMember.objects.none()

    class MemberCreateInput(serializers.Serializer):
        email = serializers.EmailField()
        access = serializers.DictField(child=serializers.CharField(), help_text=ACCESS_HELP)

    @extend_schema(operation_id="project_members_list", responses=MemberOutput(many=True))
    def get(self, request, project_id: int):
        page = self.paginate_queryset(selectors.members_of(project=self.project))
        return self.get_paginated_response(MemberOutput(page, many=True).data)

    @extend_schema(operation_id="project_members_create", request=MemberCreateInput, responses={201: MemberOutput, 400: OpenApiResponse(description="Unknown email or access"), 409: ErrorOutput})
    def post(self, request, project_id: int):
        """Invite an existing client with a level per section; a participant grants only what it holds."""
        data = self.MemberCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = services.add_member(granter=self.project_access, actor=request.user, **data.validated_data)
        return Response(MemberOutput(member).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(ProjectScopedApi):
    # Leaving a project needs no access control; the service tells leaving from removing.
    access_rules = {"GET": (Section.ACCESS_CONTROL, Level.VIEW), "PATCH": (Section.ACCESS_CONTROL, Level.FULL), "DELETE": ANY_ACCESS}
    queryset = ProjectMember.objects.none()

    class MemberUpdateInput(serializers.Serializer):
        access = serializers.DictField(child=serializers.CharField(), help_text=ACCESS_HELP)

    def _member(self, member_id: int) -> ProjectMember:
        member = selectors.members_of(project=self.project).filter(pk=member_id).first()
        if member is None:
            raise Http404
        return member

    @extend_schema(operation_id="project_members_retrieve", responses={200: MemberOutput, 404: ErrorOutput})
    def get(self, request, project_id: int, member_id: int):
        return Response(MemberOutput(self._member(member_id)).data)

    @extend_schema(operation_id="project_members_update", request=MemberUpdateInput, responses={200: MemberOutput, 409: ErrorOutput})
    def patch(self, request, project_id: int, member_id: int):
        data = self.MemberUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = services.change_member(granter=self.project_access, member=self._member(member_id), actor=request.user, **data.validated_data)
        return Response(MemberOutput(member).data)

    @extend_schema(operation_id="project_members_delete", responses={204: None, 403: ErrorOutput, 409: ErrorOutput})
    def delete(self, request, project_id: int, member_id: int):
        """Remove a participant (full access control), or leave the project (one's own membership)."""
        services.remove_member(granter=self.project_access, member=self._member(member_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- subscribers ----------------------------------------------------------------------------------------


class SubscriberOutput(serializers.ModelSerializer):
    """Never the messenger user ID (PRJ-4)."""

    class Meta:
        model = Subscriber
        fields = [
            "id", "name", "email", "phone", "messenger", "status", "source",
            "consent_at", "consent_source", "subscribed_at", "unsubscribed_at",
        ]


class SubscriberFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(method="filter_email", help_text="Exact address.")
    phone = django_filters.CharFilter(method="filter_phone", help_text="International form, e.g. +4915112345678.")

    class Meta:
        model = Subscriber
        fields = ["status", "source"]

    def filter_email(self, queryset, name, value):
        return queryset.filter(email=normalize_email(value))

    def filter_phone(self, queryset, name, value):
        try:
            return queryset.filter(phone=clean_phone(value))
        except DjangoValidationError:  # a number that is not one matches nobody
            return queryset.none()


class SubscriberListApi(ProjectScopedApi):
    access_rules = {"GET": (Section.SUBSCRIBERS, Level.VIEW), "POST": (Section.SUBSCRIBERS, Level.FULL)}
    pagination_class = CursorPagination
    filterset_class = SubscriberFilter
    queryset = Subscriber.objects.none()

    class SubscriberCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")
        phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
        consent = serializers.BooleanField(help_text="Must be true: the person consented to receive messages (PRJ-3).")

    def get_queryset(self):
        return selectors.subscribers_of(project=self.project)

    @extend_schema(operation_id="project_subscribers_list", responses=SubscriberOutput(many=True))
    def get(self, request, project_id: int):
        """Subscribers, newest first; filter by status, source, exact email or phone."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(SubscriberOutput(page, many=True).data)

    @extend_schema(operation_id="project_subscribers_create", request=SubscriberCreateInput, responses={201: SubscriberOutput, 409: ErrorOutput})
    def post(self, request, project_id: int):
        """Add one subscriber who consented, by email and/or phone."""
        data = self.SubscriberCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        subscriber = services.add_subscriber(project=self.project, actor=request.user, **data.validated_data)
        return Response(SubscriberOutput(subscriber).data, status=status.HTTP_201_CREATED)


class ImportRow(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    email = serializers.CharField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True)


class ImportRejection(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row's index in the list sent, from 0.")
    reason = serializers.ChoiceField(
        choices=["invalid_row", "missing_contact", "invalid_email", "invalid_phone", "role_address", "duplicate_in_file", "already_in_project"]
    )
    detail = serializers.CharField()


class ImportOutput(serializers.Serializer):
    created = serializers.IntegerField()
    rejected = ImportRejection(many=True)


def _import_body(request) -> tuple[object, object]:
    """The two fields of an import, without a serializer walking 10,000 rows one field at a time:
    the service checks every row itself, set-based."""
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data.get("consent_confirmed"), request.data.get("subscribers", request.data.get("contacts"))


class SubscriberImportApi(ProjectScopedApi):
    access_rules = {"POST": (Section.SUBSCRIBERS, Level.FULL)}
    queryset = Subscriber.objects.none()

    class SubscriberImportInput(serializers.Serializer):
        consent_confirmed = serializers.BooleanField(help_text="Must be true: every person listed consented (PRJ-5).")
        subscribers = ImportRow(many=True, help_text="Up to 10,000 rows.")

    @extend_schema(operation_id="project_subscribers_import", request=SubscriberImportInput, responses={200: ImportOutput, 400: OpenApiResponse(description="No consent statement, or not a list of rows")})
    def post(self, request, project_id: int):
        """Import up to 10,000 subscribers; refused rows come back with their reason (PRJ-5)."""
        consent, rows = _import_body(request)
        result = imports.import_subscribers(project=self.project, actor=request.user, rows=rows, consent_confirmed=consent)
        return Response(ImportOutput(result).data)


class SubscriberUnsubscribeApi(ProjectScopedApi):
    access_rules = {"POST": (Section.SUBSCRIBERS, Level.FULL)}
    queryset = Subscriber.objects.none()

    @extend_schema(operation_id="project_subscribers_unsubscribe", request=None, responses={200: SubscriberOutput, 404: ErrorOutput})
    def post(self, request, project_id: int, subscriber_id: int):
        """Unsubscribe: the person is never messaged again (PRJ-3)."""
        subscriber = selectors.subscribers_of(project=self.project).filter(pk=subscriber_id).first()
        if subscriber is None:
            raise Http404
        subscriber.project = self.project  # already loaded, with its owner
        return Response(SubscriberOutput(services.unsubscribe(subscriber=subscriber, actor=request.user)).data)


# --- address books -------------------------------------------------------------------------------------


class AddressBookOutput(serializers.ModelSerializer):
    contacts = serializers.IntegerField(source="contact_count", read_only=True)

    class Meta:
        model = AddressBook
        fields = ["id", "name", "contacts", "created_at"]


class ContactOutput(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "consent_source", "created_at"]


class AddressBookListApi(ProjectScopedApi):
    access_rules = {"GET": (Section.ADDRESS_BOOKS, Level.VIEW), "POST": (Section.ADDRESS_BOOKS, Level.FULL)}
    pagination_class = CursorPagination
    queryset = AddressBook.objects.none()

    class AddressBookCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=120)

    @extend_schema(operation_id="project_address_books_list", responses=AddressBookOutput(many=True))
    def get(self, request, project_id: int):
        page = self.paginate_queryset(selectors.address_books_of(project=self.project))
        return self.get_paginated_response(AddressBookOutput(page, many=True).data)

    @extend_schema(operation_id="project_address_books_create", request=AddressBookCreateInput, responses={201: AddressBookOutput})
    def post(self, request, project_id: int):
        data = self.AddressBookCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        book = services.create_address_book(project=self.project, actor=request.user, **data.validated_data)
        book.contact_count = 0
        return Response(AddressBookOutput(book).data, status=status.HTTP_201_CREATED)


class AddressBookScopedApi(ProjectScopedApi):
    def _book(self, book_id: int) -> AddressBook:
        book = selectors.address_book_of(project=self.project, book_id=book_id)
        if book is None:
            raise Http404
        return book


class ContactListApi(AddressBookScopedApi):
    access_rules = {"GET": (Section.ADDRESS_BOOKS, Level.VIEW)}
    pagination_class = CursorPagination
    queryset = Contact.objects.none()

    @extend_schema(operation_id="project_address_book_contacts_list", responses=ContactOutput(many=True))
    def get(self, request, project_id: int, book_id: int):
        page = self.paginate_queryset(selectors.contacts_of(address_book=self._book(book_id)))
        return self.get_paginated_response(ContactOutput(page, many=True).data)


class ContactImportApi(AddressBookScopedApi):
    access_rules = {"POST": (Section.ADDRESS_BOOKS, Level.FULL)}
    queryset = Contact.objects.none()

    class ContactImportInput(serializers.Serializer):
        consent_confirmed = serializers.BooleanField(help_text="Must be true: every contact listed consented (PRJ-5).")
        contacts = ImportRow(many=True, help_text="Up to 10,000 rows.")

    @extend_schema(operation_id="project_address_book_contacts_import", request=ContactImportInput, responses={200: ImportOutput})
    def post(self, request, project_id: int, book_id: int):
        """Upload contacts, under the same rules as a subscriber import (PRJ-5)."""
        consent, rows = _import_body(request)
        result = imports.import_contacts(address_book=self._book(book_id), actor=request.user, rows=rows, consent_confirmed=consent)
        return Response(ImportOutput(result).data)


# --- the pop-up form (public) ----------------------------------------------------------------------------


class PopupSubscribeApi(APIView):
    """Called by the pop-up form on a client's own site: no key, rate-limited per IP and per
    project, a honeypot field (issue 17, item 4: `projects.popup`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PerIpThrottle]
    throttle_scope = "popup"

    class PopupInput(serializers.Serializer):
        public_key = serializers.CharField(max_length=40, help_text="The project's `public_key`.")
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")
        phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
        consent = serializers.BooleanField(help_text="Must be true: the person ticked the consent box.")
        page = serializers.CharField(max_length=500, required=False, allow_blank=True, default="", help_text="The page the form was on.")
        website = serializers.CharField(
            max_length=500, required=False, allow_blank=True, default="",
            help_text="Leave empty: a field of the form that people never see. Filled in, the answer is the same and nothing is stored.",
        )

    class PopupOutput(serializers.Serializer):
        status = serializers.CharField()

    def finalize_response(self, request, response, *args, **kwargs):
        # The form posts from the client's own site, another origin: it names the project by its
        # public key and nothing here is the caller's secret.
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        return response

    @extend_schema(operation_id="public_subscribe", request=PopupInput, responses={200: PopupOutput, 404: ErrorOutput, 409: ErrorOutput, 429: ErrorOutput}, auth=[])
    def post(self, request):
        """Subscribe through a project's pop-up form, with explicit consent (PRJ-3)."""
        data = self.PopupInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        project = selectors.project_for_public_key(public_key=fields.pop("public_key"))
        if project is None:
            raise Http404
        popup.subscribe_from_popup(project=project, trap=fields.pop(popup.TRAP_FIELD), **fields)
        return Response(self.PopupOutput({"status": "subscribed"}).data)
