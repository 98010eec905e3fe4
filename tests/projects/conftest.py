import pytest

from tests.bot_api import TOKEN, BotApi


@pytest.fixture
def bot_api(settings):
    """A local Bot API (tests/bot_api.py) that the Telegram channel calls, on a free port (MSG-1).
    A short timeout, so that a delayed answer turns into a timeout quickly."""
    with BotApi(tokens={TOKEN}) as api:
        settings.TELEGRAM_API_BASE_URL = api.url
        settings.TELEGRAM_TIMEOUT_SECONDS = 0.5
        yield api


# The funnel and sending tests' local Bot API and a project with a bot (tests/projects/funnel_kit.py).
from tests.projects.funnel_kit import bot_project, telegram  # noqa: E402, F401
