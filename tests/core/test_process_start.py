"""A long-lived process freezes what it made while starting (core.process): the night's millions
of short-lived rows then cost the cyclic collector nothing for Django's own objects."""

import gc

from config import celery as celery_config
from core.process import freeze_startup_objects


def test_startup_objects_are_frozen_out_of_the_collectors_reach():
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        freeze_startup_objects()
        assert gc.get_freeze_count() > 10_000  # Django's apps, models and the test's own modules
    finally:
        gc.unfreeze()


def test_a_worker_freezes_them_when_it_starts():
    gc.unfreeze()
    try:
        celery_config.freeze_at_worker_start(sender=None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
