"""@scheduled_job() in a Django project (tests/project): function and class-based views, the
replay check through the cache, the path it verifies, and the system checks."""

import logging
import time
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

import psu_sched
from jobs.models import Run
from psu_sched.django import check_settings

SECRET = "test-deployment-secret"
KEY = psu_sched.app_key(SECRET, "finance", 1)


@pytest.fixture
def cache_table(db):
    call_command("createcachetable", verbosity=0)


def execution(attempt=1):
    return f"{uuid.uuid4().hex}.20261126T093000Z.s{attempt}"


def signed(path, *, method="GET", body=b"", app="finance", key=KEY, generation=1, job=None,
           t=None, ex=None, sign_path=None):
    """Headers (as Client extra arguments) for a call psu-sched would make."""
    ex = ex or execution()
    job = job or f"{app}/report"
    signature = psu_sched.sign(
        [(app, generation, key)],
        t=int(time.time()) if t is None else t,
        execution=ex,
        job=job,
        method=method,
        path=sign_path or path,
        body=body,
    )
    return {
        "HTTP_X_PSU_SCHED_SIGNATURE": signature,
        "HTTP_X_PSU_SCHED_EXECUTION": ex,
        "HTTP_X_PSU_SCHED_JOB": job,
    }


def get(client, path, headers, **extra):
    return client.get(path, **headers, **extra)


def test_a_signed_call_runs_the_view_once_and_its_answer_is_unchanged(client, cache_table):
    headers = signed("/scheduled/report")
    response = get(client, "/scheduled/report", headers)
    assert response.status_code == 201
    assert response["X-Job-Answer"] == "unchanged"
    assert response.content.decode() == f"ran {headers['HTTP_X_PSU_SCHED_EXECUTION']}"
    run = Run.objects.get()
    assert (run.view, run.execution, run.job) == ("report", headers["HTTP_X_PSU_SCHED_EXECUTION"], "finance/report")
    # The project's key is unlabelled: no generation is known, whatever the kid says.
    assert (run.generation, run.kid_generation) == (None, 1)


def test_a_replayed_call_gets_a_bare_403_and_the_log_says_why_without_the_key(client, cache_table, caplog):
    headers = signed("/scheduled/report")
    assert get(client, "/scheduled/report", headers).status_code == 201
    with caplog.at_level(logging.WARNING, logger="psu_sched"):
        response = get(client, "/scheduled/report", headers)
    assert response.status_code == 403
    assert response.content == b""
    assert Run.objects.count() == 1
    assert "replayed" in caplog.text
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    "reason, headers",
    [
        ("malformed", {}),
        ("mismatch", signed("/scheduled/report", key=psu_sched.app_key("another deployment", "finance", 1))),
        ("mismatch", signed("/scheduled/report", sign_path="/scheduled/other")),
        ("stale", signed("/scheduled/report", t=int(time.time()) - 301)),
        ("wrong_app", signed("/scheduled/report", app="payroll", key=psu_sched.app_key(SECRET, "payroll", 1))),
        ("missing_header", {"HTTP_X_PSU_SCHED_SIGNATURE": "t=1,kid=finance:1,v2=00"}),
    ],
    ids=["unsigned", "forged", "changed path", "stale", "other app", "no execution"],
)
def test_a_refused_call_gets_a_bare_403_and_the_view_does_not_run(client, cache_table, caplog, reason, headers):
    with caplog.at_level(logging.WARNING, logger="psu_sched"):
        response = get(client, "/scheduled/report", headers)
    assert response.status_code == 403
    assert response.content == b""
    assert Run.objects.count() == 0
    assert f": {reason}: " in caplog.text


def unsigned(t, kid):
    """Headers with a hand-written signature header: no key is needed to send these."""
    return {
        "HTTP_X_PSU_SCHED_SIGNATURE": f"t={t},kid={kid},v2={'0' * 64}",
        "HTTP_X_PSU_SCHED_EXECUTION": execution(),
        "HTTP_X_PSU_SCHED_JOB": "finance/report",
    }


@pytest.mark.parametrize(
    "reason, headers",
    [
        ("stale", unsigned("9" * 400, "finance:1")),
        ("stale", unsigned("9" * 5000, "finance:1")),
        ("malformed", unsigned(int(time.time()), "finance:" + "9" * 5000)),
        ("malformed", unsigned(int(time.time()), "finance:4294967296")),
    ],
    ids=["t of 400 digits", "t of 5000 digits", "generation of 5000 digits", "generation beyond 32 bits"],
)
def test_a_number_too_large_to_convert_gets_a_bare_403_not_a_server_error(client, cache_table, caplog, reason, headers):
    # Django's test client raises what the view raised (an OverflowError, a ValueError).
    with caplog.at_level(logging.WARNING, logger="psu_sched"):
        response = get(client, "/scheduled/report", headers)
    assert response.status_code == 403
    assert response.content == b""
    assert f": {reason}: " in caplog.text
    assert Run.objects.count() == 0


@pytest.mark.parametrize("path, view", [("/cbv/class", "class"), ("/cbv/method", "method"), ("/cbv/as-view", "as-view")])
def test_class_based_views_are_guarded_three_ways(client, cache_table, path, view):
    assert client.get(path).status_code == 403
    headers = signed(path)
    response = get(client, path, headers)
    assert response.status_code == 201
    assert Run.objects.get().view == view
    assert get(client, path, headers).status_code == 403
    assert Run.objects.count() == 1


def test_a_signed_post_with_a_body_needs_no_csrf_token(cache_table):
    client = Client(enforce_csrf_checks=True)
    body = '{"month": "2026-11"}'
    headers = signed("/cbv/class", method="POST", body=body.encode())
    response = client.post("/cbv/class", data=body, content_type="application/json", **headers)
    assert response.status_code == 201
    assert Run.objects.get().body == body
    other = signed("/cbv/class", method="POST", body=body.encode())
    response = client.post("/cbv/class", data='{"month": "2026-12"}', content_type="application/json", **other)
    assert response.status_code == 403


def test_the_raw_request_target_is_verified_as_sent(client, cache_table):
    # What waitress (REQUEST_URI) and gunicorn (RAW_URI) pass: the undecoded target.
    target = "/scheduled/caf%C3%A9?x=a+b&y=%2F"
    for meta in ("REQUEST_URI", "RAW_URI"):
        headers = signed(target)
        response = get(client, "/scheduled/café", headers, QUERY_STRING="x=a+b&y=%2F", **{meta: target})
        assert response.status_code == 201, meta
    assert Run.objects.filter(path=target).count() == 2


def test_behind_a_proxy_that_strips_a_prefix_the_prefix_is_put_back(client, cache_table, settings):
    # The scheduler called https://host/finance/scheduled/report; the proxy passed on
    # /scheduled/report, and Django knows its prefix from FORCE_SCRIPT_NAME.
    headers = signed("/finance/scheduled/report")
    assert get(client, "/scheduled/report", headers, REQUEST_URI="/scheduled/report").status_code == 403
    settings.FORCE_SCRIPT_NAME = "/finance"
    response = get(client, "/scheduled/report", headers, REQUEST_URI="/scheduled/report")
    assert response.status_code == 201
    assert Run.objects.get().path == "/finance/scheduled/report"
    # A server that keeps the prefix in the target (waitress's url_prefix): left as is.
    headers = signed("/finance/scheduled/report")
    response = get(client, "/scheduled/report", headers, REQUEST_URI="/finance/scheduled/report", SCRIPT_NAME="/finance")
    assert response.status_code == 201


def test_two_keys_during_a_rotation(client, cache_table, settings):
    new = psu_sched.app_key(SECRET, "finance", 2)
    settings.PSU_SCHED_KEYS = f"2:{new},1:{KEY}"
    assert get(client, "/scheduled/report", signed("/scheduled/report")).status_code == 201
    assert get(client, "/scheduled/report", signed("/scheduled/report", key=new, generation=2)).status_code == 201
    settings.PSU_SCHED_KEYS = [new]
    assert get(client, "/scheduled/report", signed("/scheduled/report")).status_code == 403
    assert list(Run.objects.values_list("generation", flat=True)) == [1, 2]


def test_the_generation_recorded_is_the_held_keys_label_never_the_callers(client, cache_table, settings):
    # Generation 1's key signs, the kid says 7: the view is told 1, the label of the key held.
    for held in ([f"1:{KEY}"], [{"generation": 1, "key": KEY}], [(1, KEY)]):
        settings.PSU_SCHED_KEYS = held
        assert get(client, "/scheduled/report", signed("/scheduled/report", generation=7)).status_code == 201
    assert list(Run.objects.values_list("generation", "kid_generation")) == [(1, 7)] * 3


def test_labelled_keys_pass_the_system_checks_and_a_bad_label_is_an_error_without_the_key(settings):
    new = psu_sched.app_key(SECRET, "finance", 2)
    for held in (f"2:{new},1:{KEY}", [f"2:{new}", f"1:{KEY}"], [{"generation": 2, "key": new}, (1, KEY)]):
        settings.PSU_SCHED_KEYS = held
        assert check_settings() == [], held
    settings.PSU_SCHED_KEYS = f"two:{new}"
    (message,) = check_settings()
    assert message.id == "psu_sched.E002" and new not in message.msg + (message.hint or "")


def test_a_locmem_cache_refuses_a_replay_within_its_process(client, db, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    headers = signed("/scheduled/report")
    assert get(client, "/scheduled/report", headers).status_code == 201
    assert get(client, "/scheduled/report", headers).status_code == 403


def ids(settings_):
    return [m.id for m in check_settings()]


def test_the_system_checks_accept_the_projects_settings():
    assert check_settings() == []


def test_a_dummy_cache_is_an_error_that_stops_manage_py_check(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert ids(settings) == ["psu_sched.E005"]
    with pytest.raises(SystemCheckError, match="psu_sched.E005"):
        call_command("check")


def test_a_locmem_cache_is_a_warning(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert ids(settings) == ["psu_sched.W001"]


def test_a_file_based_cache_is_a_warning_that_manage_py_check_prints(settings, tmp_path, capsys):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    }
    assert ids(settings) == ["psu_sched.W002"]
    # A warning: manage.py check prints it and does not stop.
    call_command("check")
    printed = capsys.readouterr()
    assert "psu_sched.W002" in printed.out + printed.err
    assert "FileBasedCache" in printed.out + printed.err


@pytest.mark.parametrize(
    "backend, expected",
    [
        ("jobs.caches.QuietDummyCache", "psu_sched.E005"),
        ("jobs.caches.TracedLocMemCache", "psu_sched.W001"),
        ("jobs.caches.TracedFileBasedCache", "psu_sched.W002"),
    ],
)
def test_a_subclass_of_an_unsafe_cache_is_reported_as_its_base(settings, tmp_path, backend, expected):
    # A project's own subclass keeps its base's add(): the replay check is as weak.
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": str(tmp_path)}}
    assert ids(settings) == [expected]


def test_bad_settings_are_errors_naming_the_setting(settings):
    settings.PSU_SCHED_APP = "fin ance"
    settings.PSU_SCHED_KEYS = ["not a key"]
    settings.PSU_SCHED_TOLERANCE = 0
    settings.PSU_SCHED_CACHE = "shared"
    messages = check_settings()
    assert [m.id for m in messages] == ["psu_sched.E001", "psu_sched.E002", "psu_sched.E003", "psu_sched.E004"]
    assert all(m.msg.startswith("PSU_SCHED_") for m in messages)
    settings.PSU_SCHED_KEYS = [KEY, KEY, KEY]
    settings.PSU_SCHED_APP = "finance"
    settings.PSU_SCHED_TOLERANCE = 300
    settings.PSU_SCHED_CACHE = "default"
    assert ids(settings) == ["psu_sched.E002"]


def test_an_add_that_fails_without_storing_is_tried_again_not_taken_for_a_replay(client, db, settings, caplog):
    from project.flaky_cache import FlakyCache

    settings.CACHES = {"default": {"BACKEND": "project.flaky_cache.FlakyCache"}}
    FlakyCache.failures = 2
    headers = signed("/scheduled/report")
    assert get(client, "/scheduled/report", headers).status_code == 201
    assert get(client, "/scheduled/report", headers).status_code == 403
    FlakyCache.failures = 100
    with caplog.at_level(logging.WARNING, logger="psu_sched"):
        response = get(client, "/scheduled/report", signed("/scheduled/report"))
    FlakyCache.failures = 0
    assert response.status_code == 403
    assert ": cache_error: " in caplog.text
    assert Run.objects.count() == 1
