"""REST endpoints for funnels (API.md "Funnels and sending"), under the `funnels` section (PRJ-1):
view to read, full to change. Shapes are checked here, the funnel itself by `spec` (PRJ-6)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.pagination import CursorPagination
from projects import selectors
from projects.access import Level, Section
from projects.api import ErrorOutput, ProjectScopedApi
from projects.funnels import services
from projects.funnels.spec import MAX_BLOCKS, MAX_BUTTON_TEXT, MAX_BUTTONS, MAX_DELAY_SECONDS, MAX_TEXT, FunnelSpec
from projects.models import Block, Funnel
from projects.models.funnels import KEY_LENGTH

INVALID = OpenApiResponse(description="`invalid_funnel` with the reason (PRJ-6), or the fields of the wrong shape; nothing stored")


class ButtonSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_BUTTON_TEXT, trim_whitespace=False)
    next = serializers.CharField(max_length=KEY_LENGTH, help_text="The key of the block the button leads to; sent as its callback data.")


class BlockSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=KEY_LENGTH)
    kind = serializers.ChoiceField(choices=Block.Kind.choices)
    text = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="", trim_whitespace=False)
    buttons = ButtonSerializer(many=True, required=False, default=list, max_length=MAX_BUTTONS)
    next = serializers.CharField(max_length=KEY_LENGTH, required=False, allow_blank=True, default="")
    else_next = serializers.CharField(max_length=KEY_LENGTH, required=False, allow_blank=True, default="", help_text="A condition's block when it does not hold.")
    delay_seconds = serializers.IntegerField(min_value=1, max_value=MAX_DELAY_SECONDS, required=False, allow_null=True, default=None)
    action = serializers.ChoiceField(choices=Block.Action.choices, required=False, allow_blank=True, default="")
    field = serializers.CharField(max_length=64, required=False, allow_blank=True, default="", help_text="A condition's or set_field's field.")
    value = serializers.CharField(max_length=256, required=False, allow_blank=True, default="")
    tag = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class FunnelInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    start = serializers.CharField(max_length=KEY_LENGTH, help_text="The key of the start block.")
    blocks = BlockSerializer(many=True, max_length=MAX_BLOCKS)

    def spec(self) -> FunnelSpec:
        return services.spec_from_dict(self.validated_data)


class FunnelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    start = serializers.CharField()
    blocks = BlockSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _answer(funnel: Funnel, *, status_code: int = 200) -> Response:
    spec = services.as_dict(services.spec_of(funnel))
    return Response(FunnelOutput({"id": funnel.pk, **spec, "created_at": funnel.created_at, "updated_at": funnel.updated_at}).data,
                    status=status_code)


class FunnelListApi(ProjectScopedApi):
    access_rules = {"GET": (Section.FUNNELS, Level.VIEW), "POST": (Section.FUNNELS, Level.FULL)}
    pagination_class = CursorPagination
    queryset = Funnel.objects.none()

    @extend_schema(operation_id="project_funnels_list", responses=FunnelOutput(many=True))
    def get(self, request, project_id: int):
        """The project's funnels with their blocks, newest first."""
        page = self.paginate_queryset(selectors.funnels_of(project=self.project))
        return self.get_paginated_response([_answer(f).data for f in page])

    @extend_schema(operation_id="project_funnels_create", request=FunnelInput, responses={201: FunnelOutput, 400: INVALID, 403: ErrorOutput, 409: ErrorOutput})
    def post(self, request, project_id: int):
        """A new funnel: exactly one start block, every `next` naming a block (PRJ-6)."""
        data = FunnelInput(data=request.data)
        data.is_valid(raise_exception=True)  # a body of the wrong shape: 400 field by field
        funnel = services.create_funnel(project=self.project, actor=request.user, spec=data.spec())
        return _answer(selectors.funnel_of(project=self.project, funnel_id=funnel.pk), status_code=status.HTTP_201_CREATED)


class FunnelDetailApi(ProjectScopedApi):
    access_rules = {"GET": (Section.FUNNELS, Level.VIEW), "PUT": (Section.FUNNELS, Level.FULL), "DELETE": (Section.FUNNELS, Level.FULL)}
    queryset = Funnel.objects.none()

    def _funnel(self, funnel_id: int) -> Funnel:
        funnel = selectors.funnel_of(project=self.project, funnel_id=funnel_id)
        if funnel is None:
            raise Http404
        funnel.project = self.project
        return funnel

    @extend_schema(operation_id="project_funnels_retrieve", responses={200: FunnelOutput, 404: ErrorOutput})
    def get(self, request, project_id: int, funnel_id: int):
        return _answer(self._funnel(funnel_id))

    @extend_schema(operation_id="project_funnels_replace", request=FunnelInput, responses={200: FunnelOutput, 400: INVALID, 403: ErrorOutput, 404: ErrorOutput})
    def put(self, request, project_id: int, funnel_id: int):
        """Replace the whole funnel; an invalid one is refused and the stored one stays (PRJ-6)."""
        funnel = self._funnel(funnel_id)
        data = FunnelInput(data=request.data)
        data.is_valid(raise_exception=True)  # a body of the wrong shape: 400 field by field
        services.replace_funnel(funnel=funnel, actor=request.user, spec=data.spec())
        return _answer(self._funnel(funnel_id))

    @extend_schema(operation_id="project_funnels_delete", responses={204: None, 403: ErrorOutput, 404: ErrorOutput})
    def delete(self, request, project_id: int, funnel_id: int):
        services.delete_funnel(funnel=self._funnel(funnel_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
