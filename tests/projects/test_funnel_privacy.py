"""CMP-2 and DEA-5 for what funnels and sending keep: an erased subscriber loses its fields, tags,
steps and messages; a deleted project loses its bot (and token), funnels and broadcasts."""

import pytest
from django.utils import timezone

from projects import privacy, services
from projects.models import Broadcast, Funnel, FunnelState, FunnelStep, OutboundMessage, ProjectBot, Subscriber, SubscriberTag
from tests.projects.funnel_kit import block, make_funnel

pytestmark = pytest.mark.django_db


def test_cmp2_erasing_a_subscriber_erases_what_funnels_learnt_and_what_was_sent(bot_project):
    funnel = make_funnel(bot_project, block("a", text="Hi"))
    now = timezone.now()
    person = Subscriber.objects.create(project=bot_project, email="ann@example.com", source="api", consent_at=now, consent_source="x", subscribed_at=now)
    other = Subscriber.objects.create(project=bot_project, email="ben@example.com", source="api", consent_at=now, consent_source="x", subscribed_at=now)
    for subscriber in (person, other):
        FunnelState.objects.create(subscriber=subscriber, funnel=funnel, block="a", fields={"city": "Kyiv"})
        SubscriberTag.objects.create(subscriber=subscriber, project=bot_project, name="vip")
        FunnelStep.objects.create(subscriber=subscriber, funnel=funnel, block="a", via="start")
        OutboundMessage.objects.create(project=bot_project, subscriber=subscriber, text="Hi")
    assert privacy.erase_subject(email="ann@example.com", phone="")["subscribers"] == 1
    for model in (FunnelState, SubscriberTag, FunnelStep, OutboundMessage):
        assert list(model.objects.values_list("subscriber_id", flat=True)) == [other.pk], model


def test_dea5_a_deleted_projects_bot_funnels_and_broadcasts_go_with_it(bot_project, client_account, django_capture_on_commit_callbacks):
    make_funnel(bot_project, block("a", text="Hi"))
    Broadcast.objects.create(project=bot_project, text="News")
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_project(project=bot_project, actor=client_account)
    assert not ProjectBot.objects.exists() and not Funnel.objects.exists() and not Broadcast.objects.exists()
