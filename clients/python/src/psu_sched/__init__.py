"""Verify that an HTTP request really is a call from psu-sched (signing scheme v2).

The core needs only the standard library::

    import psu_sched

    try:
        run = psu_sched.verify(
            app="finance",
            keys=[settings.PSU_SCHED_KEY],          # one key, or two during a rotation;
                                                    # "2:<key>" labels one with its generation
            headers=request.headers,                # any mapping; names are case-insensitive
            method=request.method,
            path="/scheduled/report?x=1",           # the request target exactly as sent
            body=request.body,
        )
    except psu_sched.VerificationError as error:
        log.warning("refused: %s", error.reason)    # answer 403 and say no more
    else:
        run.execution, run.job, run.slot, run.attempt
        run.generation       # the label of the key that verified (None if unlabelled)

Django views use :func:`psu_sched.django.scheduled_job` instead, which adds the settings, the
replay check and the system checks. The scheme is described in docs/verifying-requests.md of
the psu-sched repository; docs/signing-v2-vectors.json holds the vectors both the scheduler
and this package are tested against.
"""

from ._verify import (
    DEFAULT_TOLERANCE,
    EMPTY_BODY_SHA256,
    HeldKey,
    HEADER_EXECUTION,
    HEADER_JOB,
    HEADER_SIGNATURE,
    REASONS,
    VerificationError,
    Verified,
    app_key,
    sign,
    signed_string,
    verify,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "EMPTY_BODY_SHA256",
    "HeldKey",
    "HEADER_EXECUTION",
    "HEADER_JOB",
    "HEADER_SIGNATURE",
    "REASONS",
    "VerificationError",
    "Verified",
    "app_key",
    "sign",
    "signed_string",
    "verify",
]

__version__ = "0.1.0"
