"""`@scheduled_job()`: a Django view only psu-sched can run.

Settings (read once, again after ``override_settings``)::

    INSTALLED_APPS = [..., "psu_sched"]        # the system checks
    PSU_SCHED_APP = "finance"                  # the app's name in psu-sched
    PSU_SCHED_KEYS = [os.environ["PSU_SCHED_KEY"]]   # `psu-sched app key --app finance`;
                                               # two during a rotation (a "new,old" string works);
                                               # "2:<key>" labels a key with its generation
    PSU_SCHED_TOLERANCE = 300                  # seconds (optional)
    PSU_SCHED_CACHE = "default"                # the cache that remembers execution ids (optional)

Views::

    from psu_sched.django import scheduled_job

    @scheduled_job()
    def report(request):
        request.psu_sched.execution   # see psu_sched.Verified
        return HttpResponse("done")

    @scheduled_job()                   # a class-based view: its dispatch is guarded
    class Cleanup(View): ...

A refused request gets a bare 403; the reason is logged on the `psu_sched` logger (never a
key). Each execution id is accepted once: the cache's ``add`` remembers it for twice the
tolerance, so the cache must be shared by every worker and its ``add`` atomic (DatabaseCache,
Redis, Memcached). A system check reports DummyCache (an error: it remembers nothing),
LocMemCache (a warning: one process only) and FileBasedCache (a warning: its ``add`` checks,
then writes, so two workers can both accept one id).
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.signals import setting_changed
from django.http import HttpResponseForbidden
from django.utils.module_loading import import_string

from ._verify import DEFAULT_TOLERANCE, VerificationError, held_key, valid_key, valid_name, verify

__all__ = ["scheduled_job", "request_path", "check_settings"]

logger = logging.getLogger("psu_sched")

_SETTINGS = ("PSU_SCHED_APP", "PSU_SCHED_KEYS", "PSU_SCHED_TOLERANCE", "PSU_SCHED_CACHE")
_CACHE_KEY_PREFIX = "psu-sched:execution:"


@dataclass(frozen=True)
class _Config:
    app: str
    keys: tuple[object, ...]
    tolerance: int
    cache: str


_config: _Config | None = None


def _keys(value: object) -> tuple[object, ...]:
    """The entries of PSU_SCHED_KEYS: a "new,old" string (each "<key>" or "<generation>:<key>"),
    or a list or tuple of keys, "<generation>:<key>" strings, (generation, key) pairs or
    {"generation": ..., "key": ...} dicts."""
    if isinstance(value, str):
        return tuple(k.strip() for k in value.split(",") if k.strip())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return ()


def _valid_held_key(entry: object) -> bool:
    try:
        return valid_key(held_key(entry)[0])
    except (TypeError, ValueError):
        return False


def _read_config() -> _Config:
    global _config
    if _config is None:
        _config = _Config(
            app=getattr(settings, "PSU_SCHED_APP", ""),
            keys=_keys(getattr(settings, "PSU_SCHED_KEYS", ())),
            tolerance=getattr(settings, "PSU_SCHED_TOLERANCE", DEFAULT_TOLERANCE),
            cache=getattr(settings, "PSU_SCHED_CACHE", "default"),
        )
    return _config


def _reset_config(*, setting: str, **kwargs: object) -> None:
    global _config
    if setting in _SETTINGS or setting == "CACHES":
        _config = None


setting_changed.connect(_reset_config)


def request_path(request) -> str:
    """The path and query to verify: the request target as sent to the scheduler's URL.

    The undecoded target from the WSGI server (gunicorn's ``RAW_URI``; uWSGI's and waitress's
    ``REQUEST_URI``), else ``request.get_full_path()`` (decoded and re-encoded, so a path with
    ``%2F`` or unusual escapes may not verify). When Django serves under a script prefix
    (``SCRIPT_NAME`` or ``FORCE_SCRIPT_NAME``) that the target lacks, because a proxy
    stripped it, the prefix is put back in front: the scheduler signed the public path.
    """
    meta = request.META
    raw = meta.get("RAW_URI") or meta.get("REQUEST_URI")
    if not raw:
        return request.get_full_path()
    if "://" in raw.split("?", 1)[0]:
        # An absolute-form target (`GET http://host/path`): keep the path and query.
        after_scheme = raw.split("://", 1)[1]
        slash = after_scheme.find("/")
        raw = after_scheme[slash:] if slash >= 0 else "/"
    # The script prefix Django serves under: request.path is prefix + path_info.
    prefix = request.path[: len(request.path) - len(request.path_info)].rstrip("/")
    if prefix and not (raw == prefix or raw.startswith(prefix + "/") or raw.startswith(prefix + "?")):
        raw = prefix + raw
    return raw


def _refuse(request, reason: str, detail: str):
    logger.warning(
        "psu-sched: refused %s %s (execution %s): %s: %s",
        request.method,
        request.path,
        request.headers.get("X-Psu-Sched-Execution", "-")[:128],
        reason,
        detail,
    )
    return HttpResponseForbidden()


_MISSING = object()


def _first_time(cache, execution: str, value: int, timeout: int) -> bool | None:
    """Records `execution` with the cache's atomic `add`: True the first time, False when it is
    already there, None when the cache keeps failing.

    Some backends answer False for an error too (DatabaseCache on a database error, e.g.
    SQLite's "database is locked" when two workers add at once): a False is a replay only
    when the id is then found; otherwise the add is tried again, a few times.
    """
    key = _CACHE_KEY_PREFIX + execution
    for delay in (0, 0.05, 0.1, 0.2, 0.4, 0.8):
        time.sleep(delay)
        try:
            if cache.add(key, value, timeout=timeout):
                return True
            if cache.get(key, _MISSING) is not _MISSING:
                return False
        except Exception:  # noqa: BLE001 - any backend's failure: try again, then refuse
            logger.exception("psu-sched: the cache failed while recording %s", execution)
    return None


def _guard(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        config = _read_config()
        try:
            run = verify(
                app=config.app,
                keys=config.keys,
                headers=request.headers,
                method=request.method,
                path=request_path(request),
                body=request.body,
                tolerance=config.tolerance,
            )
        except VerificationError as error:
            return _refuse(request, error.reason, error.detail)
        # Once per execution id: the signature's window is `tolerance` either side of now.
        first = _first_time(caches[config.cache], run.execution, run.timestamp, 2 * config.tolerance)
        if first is None:
            return _refuse(
                request,
                "cache_error",
                f"the cache {config.cache!r} could not record the execution id; refused to be safe",
            )
        if not first:
            return _refuse(request, "replayed", "this execution id was already accepted")
        request.psu_sched = run
        return view(request, *args, **kwargs)

    # The signature authenticates the call; psu-sched sends no CSRF token with a POST.
    wrapper.csrf_exempt = True
    return wrapper


def scheduled_job():
    """Decorator: the view runs only for a signed, fresh, first-seen call from psu-sched for
    this app; anything else gets a bare 403 and a log line saying why.

    Works on a function view, on a class-based view (its ``dispatch`` is guarded), on
    ``SomeView.as_view()``, and through ``method_decorator(scheduled_job(), name="dispatch")``.
    The view's response is returned unchanged; ``request.psu_sched`` holds the
    :class:`psu_sched.Verified` call.
    """

    def decorator(view):
        if isinstance(view, type):
            from django.utils.decorators import method_decorator

            return method_decorator(_guard, name="dispatch")(view)
        return _guard(view)

    return decorator


@checks.register(checks.Tags.security, checks.Tags.caches)
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Django system checks for the settings `@scheduled_job()` reads."""
    errors: list[checks.CheckMessage] = []
    app = getattr(settings, "PSU_SCHED_APP", None)
    if not valid_name(app):
        errors.append(
            checks.Error(
                "PSU_SCHED_APP must be the app's name in psu-sched ([A-Za-z0-9_-], 1 to 64).",
                id="psu_sched.E001",
            )
        )
    keys = _keys(getattr(settings, "PSU_SCHED_KEYS", None))
    if not 1 <= len(keys) <= 2 or not all(_valid_held_key(k) for k in keys):
        errors.append(
            checks.Error(
                "PSU_SCHED_KEYS must hold one or two app keys (64 lowercase hex digits each), "
                'each optionally labelled with its generation ("2:<key>").',
                hint="Print the key with `psu-sched app key --app APP`; two during a rotation.",
                id="psu_sched.E002",
            )
        )
    tolerance = getattr(settings, "PSU_SCHED_TOLERANCE", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance <= 0:
        errors.append(
            checks.Error(
                "PSU_SCHED_TOLERANCE must be a positive number of seconds.", id="psu_sched.E003"
            )
        )
    alias = getattr(settings, "PSU_SCHED_CACHE", "default")
    backend = settings.CACHES.get(alias, {}).get("BACKEND") if isinstance(alias, str) else None
    # By class, not by name: a project's subclass keeps its base's add().
    backend_class = _cache_class(backend) if backend is not None else None
    if backend is None:
        errors.append(
            checks.Error(
                f"PSU_SCHED_CACHE names {alias!r}, which is not in CACHES.", id="psu_sched.E004"
            )
        )
    elif _is(backend_class, "django.core.cache.backends.dummy", "DummyCache"):
        errors.append(
            checks.Error(
                f"The cache {alias!r} (PSU_SCHED_CACHE) is a DummyCache: it remembers no execution "
                "id, so @scheduled_job() could not refuse a replayed request.",
                hint="Use a cache every worker shares: DatabaseCache, Redis or Memcached.",
                id="psu_sched.E005",
            )
        )
    elif _is(backend_class, "django.core.cache.backends.locmem", "LocMemCache"):
        errors.append(
            checks.Warning(
                f"The cache {alias!r} (PSU_SCHED_CACHE) is a LocMemCache: each process has its "
                "own, so a request replayed to another worker would run again.",
                hint="Use a cache every worker shares: DatabaseCache, Redis or Memcached.",
                id="psu_sched.W001",
            )
        )
    elif _is(backend_class, "django.core.cache.backends.filebased", "FileBasedCache"):
        errors.append(
            checks.Warning(
                f"The cache {alias!r} (PSU_SCHED_CACHE) is a FileBasedCache: its add() checks for "
                "the file, then writes it, so two workers receiving the same request at once "
                "could both run it.",
                hint="Use a cache whose add() is atomic: DatabaseCache, Redis or Memcached.",
                id="psu_sched.W002",
            )
        )
    return errors


def _cache_class(path):
    """The cache backend class at the dotted `path`, or None when it does not import (Django's
    own checks report that)."""
    try:
        return import_string(path)
    except ImportError:
        return None


def _is(cls, module, name):
    """Whether `cls` is Django's `module.name` cache backend or a subclass of it."""
    if cls is None:
        return False
    try:
        base = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(cls, type) and issubclass(cls, base)
