"""Settings for the test suite: the project's settings, read with test mode switched on.

Services are real: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (CI sets both),
else SQLite and in-process stand-ins (embedded mode). Tests use a Redis key prefix of their own
so they never touch the data of anything else using the same Redis server (and never flush it).
"""

import os
import uuid

os.environ["HOMESERVICE_TESTING"] = "true"
os.environ.setdefault("REDIS_KEY_PREFIX", f"hs-test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from homeservice.settings import *  # noqa: F403

# A test database of this run's own: two runs on one PostgreSQL server (two checkouts, or a run
# while another is still going) would otherwise both create, use and drop ``test_<name>``.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"  # noqa: F405
    }
