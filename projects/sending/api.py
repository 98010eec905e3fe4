"""REST endpoints for a project's bot and broadcasts (API.md "Funnels and sending"): the bot under
the `settings` section, broadcasts under `messages` (PRJ-1)."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.pagination import CursorPagination
from projects import selectors
from projects.access import Level, Section
from projects.api import ErrorOutput, ProjectScopedApi
from projects.funnels.spec import MAX_TEXT
from projects.models import Broadcast
from projects.sending import bots, broadcasts


class BotOutput(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    connected_at = serializers.DateTimeField()


class BotApi(ProjectScopedApi):
    access_rules = {"GET": (Section.SETTINGS, Level.VIEW), "PUT": (Section.SETTINGS, Level.FULL)}
    queryset = Broadcast.objects.none()

    class BotInput(serializers.Serializer):
        token = serializers.CharField(max_length=128, help_text="The token @BotFather gave; never shown again.")

    @extend_schema(operation_id="project_bot_retrieve", responses={200: BotOutput, 404: ErrorOutput})
    def get(self, request, project_id: int):
        """The connected bot's name; never its token."""
        bot = selectors.bot_of(project_id=self.project.pk)
        if bot is None:
            raise Http404
        return Response(BotOutput(bot).data)

    @extend_schema(operation_id="project_bot_connect", request=BotInput, responses={200: BotOutput, 400: ErrorOutput, 403: ErrorOutput, 503: ErrorOutput})
    def put(self, request, project_id: int):
        """Connect the bot: Telegram's `getMe` checks the token, `setWebhook` points it at this project."""
        data = self.BotInput(data=request.data)
        data.is_valid(raise_exception=True)
        bot = bots.connect_bot(project=self.project, actor=request.user, token=data.validated_data["token"])
        return Response(BotOutput(bot).data)


class BroadcastOutput(serializers.ModelSerializer):
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    blocked = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    waiting = serializers.IntegerField()

    class Meta:
        model = Broadcast
        fields = ["id", "status", "text", "tag", "send_at", "recipients", "sent", "failed", "blocked", "cancelled", "waiting",
                  "created_at", "started_at", "finished_at"]


def _with_counts(broadcast: Broadcast) -> Broadcast:
    return broadcasts.counts_for([broadcast])[0]


class BroadcastListApi(ProjectScopedApi):
    access_rules = {"GET": (Section.MESSAGES, Level.VIEW), "POST": (Section.MESSAGES, Level.FULL)}
    pagination_class = CursorPagination
    queryset = Broadcast.objects.none()

    class BroadcastInput(serializers.Serializer):
        text = serializers.CharField(max_length=MAX_TEXT)
        tag = serializers.CharField(max_length=64, required=False, allow_blank=True, default="", help_text="Only subscribers with this tag.")
        send_at = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="Later; empty: now.")

    @extend_schema(operation_id="project_broadcasts_list", responses=BroadcastOutput(many=True))
    def get(self, request, project_id: int):
        page = self.paginate_queryset(selectors.broadcasts_of(project=self.project))
        return self.get_paginated_response(BroadcastOutput(broadcasts.counts_for(list(page)), many=True).data)

    @extend_schema(operation_id="project_broadcasts_create", request=BroadcastInput, responses={202: BroadcastOutput, 400: ErrorOutput, 403: ErrorOutput, 409: ErrorOutput})
    def post(self, request, project_id: int):
        """Send a message to the project's active subscribers, or those with a tag, now or later (MSG-1)."""
        data = self.BroadcastInput(data=request.data)
        data.is_valid(raise_exception=True)
        broadcast = broadcasts.create_broadcast(project=self.project, actor=request.user, **data.validated_data)
        broadcast.refresh_from_db()
        return Response(BroadcastOutput(_with_counts(broadcast)).data, status=status.HTTP_202_ACCEPTED)


class BroadcastDetailApi(ProjectScopedApi):
    access_rules = {"GET": (Section.MESSAGES, Level.VIEW)}
    queryset = Broadcast.objects.none()

    @extend_schema(operation_id="project_broadcasts_retrieve", responses={200: BroadcastOutput, 404: ErrorOutput})
    def get(self, request, project_id: int, broadcast_id: int):
        broadcast = selectors.broadcast_of(project=self.project, broadcast_id=broadcast_id)
        if broadcast is None:
            raise Http404
        return Response(BroadcastOutput(_with_counts(broadcast)).data)


class BroadcastCancelApi(ProjectScopedApi):
    access_rules = {"POST": (Section.MESSAGES, Level.FULL)}
    queryset = Broadcast.objects.none()

    @extend_schema(operation_id="project_broadcasts_cancel", request=None, responses={200: BroadcastOutput, 404: ErrorOutput, 409: ErrorOutput})
    def post(self, request, project_id: int, broadcast_id: int):
        """Stop a broadcast: what has not gone yet does not go (MSG-1)."""
        broadcast = selectors.broadcast_of(project=self.project, broadcast_id=broadcast_id)
        if broadcast is None:
            raise Http404
        return Response(BroadcastOutput(_with_counts(broadcasts.cancel_broadcast(broadcast=broadcast, actor=request.user))).data)
