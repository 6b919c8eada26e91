"""psu_sched.verify against requests built here from the v2 spec, written out by hand (the
signed string as a literal, the HMAC from hashlib), so the package is not checked against
itself. The shared vectors are in test_vectors.py."""

import hashlib
import hmac
from datetime import datetime, timezone

import pytest

import psu_sched

SECRET = "deployment-secret-for-tests"
NOW = 1_800_000_000
EXECUTION = "0123456789abcdef0123456789abcdef.20261126T093000Z.s1"
JOB = "finance/report"
PATH = "/scheduled/caf%C3%A9?x=a+b&y=%2F"


def key(app="finance", generation=1, secret=SECRET):
    message = f"psu-sched/app-key/v2\n{app}\n{generation}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def mac(k, signed):
    return hmac.new(k.encode("ascii"), signed.encode(), hashlib.sha256).hexdigest()


SIGNED = (
    "psu-sched-v2\n"
    f"{NOW}\n"
    f"{EXECUTION}\n"
    "finance/report\n"
    "GET\n"
    "/scheduled/caf%C3%A9?x=a+b&y=%2F\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)


def headers(signature, execution=EXECUTION, job=JOB):
    h = {"X-Psu-Sched-Signature": signature}
    if execution is not None:
        h["X-Psu-Sched-Execution"] = execution
    if job is not None:
        h["X-Psu-Sched-Job"] = job
    return h


def call(h, *, keys=None, app="finance", method="GET", path=PATH, body=b"", now=NOW):
    return psu_sched.verify(
        app=app,
        keys=[key()] if keys is None else keys,
        headers=h,
        method=method,
        path=path,
        body=body,
        now=now,
    )


def refused(h, **kwargs):
    with pytest.raises(psu_sched.VerificationError) as caught:
        call(h, **kwargs)
    return caught.value.reason


def test_the_key_derivation_is_hmac_of_the_label_app_and_generation():
    assert psu_sched.app_key(SECRET, "finance", 1) == key()
    assert len(key()) == 64
    assert psu_sched.app_key(SECRET, "finance", 2) != key()


def test_the_signed_string_is_seven_lines_without_a_trailing_newline():
    assert psu_sched.signed_string(NOW, EXECUTION, JOB, "get", PATH) == SIGNED


def test_a_signed_get_verifies_and_gives_the_executions_parts():
    run = call(headers(f"t={NOW},kid=finance:1,v2={mac(key(), SIGNED)}"))
    assert run.execution == EXECUTION
    assert run.job_id == "0123456789abcdef0123456789abcdef"
    assert run.slot == datetime(2026, 11, 26, 9, 30, tzinfo=timezone.utc)
    assert run.trigger == "schedule"
    assert run.attempt == 1
    assert (run.job, run.app, run.name) == ("finance/report", "finance", "report")
    # An unlabelled key: which generation it is, nothing says; the kid's label is the caller's.
    assert (run.generation, run.kid_generation) == (None, 1)


def test_header_names_are_case_insensitive():
    h = {k.lower(): v for k, v in headers(f"t={NOW},kid=finance:1,v2={mac(key(), SIGNED)}").items()}
    assert call(h).execution == EXECUTION


def test_a_post_body_is_covered_by_its_hash():
    body = '{"café": 1}'
    signed = SIGNED.replace("\nGET\n", "\nPOST\n").rsplit("\n", 1)[0] + "\n" + hashlib.sha256(
        body.encode()
    ).hexdigest()
    h = headers(f"t={NOW},kid=finance:1,v2={mac(key(), signed)}")
    assert call(h, method="POST", body=body.encode()).attempt == 1
    assert refused(h, method="POST", body=b'{"caf\xc3\xa9": 2}') == "mismatch"


def test_during_a_rotation_either_generation_verifies_and_names_itself():
    old, new = key(generation=1), key(generation=2)
    h = headers(f"t={NOW},kid=finance:2,v2={mac(new, SIGNED)},kid=finance:1,v2={mac(old, SIGNED)}")
    assert call(h, keys=[f"2:{new}"]).generation == 2
    assert call(h, keys=[f"1:{old}"]).generation == 1
    assert call(h, keys=[f"2:{new}", f"1:{old}"]).generation == 2
    assert call(h, keys=[new, old]).generation is None
    assert refused(h, keys=[key(generation=3)]) == "mismatch"


def test_the_generation_reported_is_the_held_keys_label_never_the_kids():
    # Signed with generation 1's key, but labelled 7: nothing signs the kid.
    h = headers(f"t={NOW},kid=finance:7,v2={mac(key(), SIGNED)}")
    for held in ([f"1:{key()}"], f"1:{key()}", [(1, key())], [{"generation": 1, "key": key()}]):
        run = call(h, keys=held)
        assert (run.generation, run.kid_generation) == (1, 7), held
    # A key held without a label: no generation is reported, and the kid's is not taken for one.
    run = call(h, keys=[key()])
    assert (run.generation, run.kid_generation) == (None, 7)
    # Both generations held, labelled: the one whose key matched, whatever the kid says.
    run = call(h, keys=[f"2:{key(generation=2)}", f"1:{key()}"])
    assert (run.generation, run.kid_generation) == (1, 7)


@pytest.mark.parametrize(
    "held",
    [f"x:{key()}", f"-1:{key()}", f"+1:{key()}", f"{'9' * 5000}:{key()}", f"4294967296:{key()}",
     "2:", (1,), ("1", key()), {"key": key()}, {"generation": True, "key": key()}, 7],
    ids=["letters", "negative", "plus", "5000 digits", "beyond 32 bits", "no key", "short tuple",
         "string generation", "no generation", "bool", "not a key"],
)
def test_a_held_key_whose_label_is_not_a_generation_is_an_error_that_does_not_show_the_key(held):
    h = headers(f"t={NOW},kid=finance:1,v2={mac(key(), SIGNED)}")
    with pytest.raises((TypeError, ValueError)) as caught:
        call(h, keys=[held])
    assert key() not in str(caught.value)
    assert not isinstance(caught.value, psu_sched.VerificationError)


def test_unknown_parts_are_ignored():
    h = headers(f"t={NOW},v9=zzz,kid=finance:1,x=1,v2={mac(key(), SIGNED)}")
    assert call(h).kid_generation == 1


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "kid=finance:1,v2=00",
        "t=soon,kid=finance:1,v2=00",
        f"t={NOW}",
        f"t={NOW},v2=00,kid=finance:1",
        f"t={NOW},kid=finance,v2=00",
        f"t={NOW},kid=finance:one,v2=00",
        f"t={NOW},kid=:1,v2=00",
        f"t={NOW},kid=finance:1,v2=00,v2=00",
        f"t={NOW},v1=00",
    ],
)
def test_a_malformed_signature_header_is_malformed(signature):
    assert refused(headers(signature)) == "malformed"


def test_no_signature_header_is_malformed():
    assert refused({"X-Psu-Sched-Execution": EXECUTION, "X-Psu-Sched-Job": JOB}) == "malformed"


@pytest.mark.parametrize(
    "execution, job",
    [(None, JOB), (EXECUTION, None), (EXECUTION, "finance"), (EXECUTION, "finance/a/b"), ("nope", JOB)],
)
def test_a_missing_execution_or_job_header_is_missing_header(execution, job):
    h = headers(f"t={NOW},kid=finance:1,v2={mac(key(), SIGNED)}", execution=execution, job=job)
    assert refused(h) == "missing_header"


def test_another_apps_request_is_wrong_app_even_with_its_valid_signature():
    payroll = key(app="payroll")
    signed = SIGNED.replace("finance/report", "payroll/report")
    h = headers(f"t={NOW},kid=payroll:1,v2={mac(payroll, signed)}", job="payroll/report")
    assert call(h, app="payroll", keys=[payroll]).app == "payroll"
    assert refused(h) == "wrong_app"
    # Signed with finance's own key but naming payroll's kid, or the other way round.
    h = headers(f"t={NOW},kid=payroll:1,v2={mac(key(), SIGNED)}")
    assert refused(h) == "wrong_app"
    h = headers(f"t={NOW},kid=finance:1,v2={mac(key(), signed)}", job="payroll/report")
    assert refused(h) == "wrong_app"


def test_a_timestamp_beyond_the_tolerance_is_stale_either_way():
    h = headers(f"t={NOW},kid=finance:1,v2={mac(key(), SIGNED)}")
    assert call(h, now=NOW + 300).attempt == 1
    assert call(h, now=NOW - 300).attempt == 1
    assert refused(h, now=NOW + 301) == "stale"
    assert refused(h, now=NOW - 301) == "stale"


def test_a_changed_path_query_method_or_execution_is_a_mismatch():
    h = headers(f"t={NOW},kid=finance:1,v2={mac(key(), SIGNED)}")
    assert refused(h, path="/scheduled/café?x=a+b&y=%2F") == "mismatch"
    assert refused(h, path="/scheduled/caf%C3%A9?x=a%20b&y=%2F") == "mismatch"
    assert refused(h, path="/scheduled/caf%C3%A9?x=a+b&y=/") == "mismatch"
    assert refused(h, method="POST") == "mismatch"
    other = headers(h["X-Psu-Sched-Signature"], execution=EXECUTION.replace(".s1", ".s2"))
    assert refused(other) == "mismatch"


def test_a_key_of_another_deployment_is_a_mismatch():
    h = headers(f"t={NOW},kid=finance:1,v2={mac(key(secret='another'), SIGNED)}")
    assert refused(h) == "mismatch"


def test_sign_writes_what_verify_accepts():
    value = psu_sched.sign([("finance", 1, key())], t=NOW, execution=EXECUTION, job=JOB, method="GET", path=PATH)
    assert value == f"t={NOW},kid=finance:1,v2={mac(key(), SIGNED)}"


def test_the_error_never_contains_the_key():
    k = key()
    h = headers(f"t={NOW},kid=finance:1,v2={mac(k, SIGNED)}")
    with pytest.raises(psu_sched.VerificationError) as caught:
        call(h, path="/other")
    assert k not in str(caught.value) and caught.value.reason == "mismatch"
