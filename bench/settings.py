"""The platform's own settings, plus the bench's bare view: the benchmark measures the real
server next to a floor it cannot beat."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
