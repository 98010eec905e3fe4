import json

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as platform_urls

BARE_TABLE = "bench_bare_update"


@csrf_exempt
def bare(request):
    """The floor: parse the JSON and insert one row, nothing else."""
    update = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BARE_TABLE} (update_id) VALUES (%s)", [update["update_id"]])  # noqa: S608
    return HttpResponse(status=200)


urlpatterns = [path("bench/bare/", bare), *platform_urls]
