"""A Django project whose views are psu-sched jobs: the package's tests and the end-to-end test
(tests/tests/django.rs) serve it with waitress.

The environment decides what differs between runs: PSU_SCHED_TEST_DB (the SQLite file holding
the runs and the cache table, shared by the worker processes), PSU_SCHED_TEST_APP (the app's
name), PSU_SCHED_KEYS ("new,old"), PSU_SCHED_TOLERANCE, PSU_SCHED_TEST_CACHE ("file": a
FileBasedCache).
"""

import os
import tempfile

import psu_sched

# A fixed deployment secret for the tests: the app keys below derive from it.
TEST_DEPLOYMENT_SECRET = "test-deployment-secret"
TEST_KEY = psu_sched.app_key(TEST_DEPLOYMENT_SECRET, "finance", 1)

SECRET_KEY = "test-only, not secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "psu_sched",
    "jobs",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(
            "PSU_SCHED_TEST_DB", os.path.join(tempfile.gettempdir(), "psu-sched-django.sqlite3")
        ),
        # Two worker processes write to the same file: wait for each other's locks.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# The cache every worker shares: the execution ids already accepted live in the database.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "psu_sched_cache",
    }
}

# PSU_SCHED_TEST_CACHE=file: a FileBasedCache in this directory instead (for the system check).
if os.environ.get("PSU_SCHED_TEST_CACHE") == "file":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.path.join(tempfile.gettempdir(), "psu-sched-django-file-cache"),
        }
    }

PSU_SCHED_APP = os.environ.get("PSU_SCHED_TEST_APP", "finance")
PSU_SCHED_KEYS = os.environ.get("PSU_SCHED_KEYS", TEST_KEY)
PSU_SCHED_TOLERANCE = int(os.environ.get("PSU_SCHED_TOLERANCE", "300"))
PSU_SCHED_CACHE = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"psu_sched": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
