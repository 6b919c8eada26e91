"""The shared signing v2 vectors (docs/signing-v2-vectors.json), which the scheduler's Rust tests
use too: every derivation, and every case with its exact reason code."""

import json
import os
from pathlib import Path

import pytest

import psu_sched

VECTORS = Path(
    os.environ.get(
        "PSU_SCHED_VECTORS",
        Path(__file__).resolve().parents[3] / "docs" / "signing-v2-vectors.json",
    )
)


def load():
    assert VECTORS.exists(), f"{VECTORS} is missing (set PSU_SCHED_VECTORS to its path)"
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert data["scheme"] == "v2"
    return data


DATA = load()


def test_the_vectors_have_cases_of_both_outcomes_and_every_reason():
    reasons = {c["expect"].get("error") for c in DATA["cases"] if not c["expect"]["ok"]}
    assert any(c["expect"]["ok"] for c in DATA["cases"])
    assert reasons <= set(psu_sched.REASONS), reasons
    assert DATA["derivation"]


@pytest.mark.parametrize(
    "d", DATA["derivation"], ids=lambda d: f"{d['app']}:{d['generation']}:{d.get('salt', '')}"
)
def test_derivation(d):
    key = psu_sched.app_key(d["deployment_secret"], d["app"], d["generation"], d.get("salt"))
    assert key == d["key"]


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["name"])
def test_case(case):
    request, verifier, expect = case["request"], case["verifier"], case["expect"]
    arguments = dict(
        app=verifier["app"],
        keys=verifier["keys"],
        headers=request["headers"],
        method=request["method"],
        path=request["path"],
        body=request["body"].encode("utf-8"),
        # The clock as a verifier reads it (time.time() is a float): arithmetic with a huge
        # integer fails on a float where it would not on an int.
        now=float(verifier["now"]),
        tolerance=verifier.get("tolerance", psu_sched.DEFAULT_TOLERANCE),
    )
    if expect["ok"]:
        run = psu_sched.verify(**arguments)
        assert run.execution == expect["execution"]
        assert run.job == expect["job"]
        # `generation` in the file is the kid's label as sent (unverified); `key_generation`, in
        # cases whose app labels its keys, the label of the held key that verified.
        assert run.kid_generation == expect["generation"]
        assert run.generation == expect.get("key_generation")
        if "signed" in expect:
            headers = {k.lower(): v for k, v in request["headers"].items()}
            t = next(
                p.split("=", 1)[1]
                for p in headers["x-psu-sched-signature"].split(",")
                if p.strip().startswith("t=")
            )
            assert (
                psu_sched.signed_string(
                    t,
                    headers["x-psu-sched-execution"],
                    headers["x-psu-sched-job"],
                    request["method"],
                    request["path"],
                    request["body"],
                )
                == expect["signed"]
            )
    else:
        with pytest.raises(psu_sched.VerificationError) as caught:
            psu_sched.verify(**arguments)
        assert caught.value.reason == expect["error"], str(caught.value)
