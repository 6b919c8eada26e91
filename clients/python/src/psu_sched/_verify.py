"""Signing scheme v2: the app's key, the signed string, signing and verification.

Standard library only. See the package's docstring for the one call an app makes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping, Tuple, Union

HEADER_SIGNATURE = "X-Psu-Sched-Signature"
HEADER_EXECUTION = "X-Psu-Sched-Execution"
HEADER_JOB = "X-Psu-Sched-Job"

#: Seconds a signature's timestamp may differ from the verifier's clock.
DEFAULT_TOLERANCE = 300

#: The SHA-256 of an empty body, as it appears in the signed string.
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()

SCHEME = "psu-sched-v2"
_KEY_LABEL = "psu-sched/app-key/v2"

#: The reasons a request is refused, in the order they are checked. The first five are
#: :func:`verify`'s; `replayed` (an execution id already seen) and `cache_error` (the cache
#: could not record it) are the Django decorator's.
REASONS = ("malformed", "missing_header", "wrong_app", "stale", "mismatch", "replayed", "cache_error")

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KEY = re.compile(r"[0-9a-f]{64}")
_EXECUTION = re.compile(r"([0-9a-f]{32})\.([0-9]{8}T[0-9]{6}Z)\.([sm])([1-9][0-9]*)")
_TRIGGERS = {"s": "schedule", "m": "manual"}

#: The largest `t` (a signed 64-bit integer, as the scheduler's verifier reads it): beyond it
#: a timestamp is as stale as can be.
_T_MAX = 2**63 - 1
#: The largest key generation and attempt (unsigned 32 bits, as the scheduler's).
_U32_MAX = 2**32 - 1


#: A key the app holds: the key alone (``"<64 hex>"``), or labelled with the generation it was
#: issued at: ``"2:<64 hex>"``, ``(2, "<64 hex>")`` or ``{"generation": 2, "key": "<64 hex>"}``.
HeldKey = Union[str, Tuple[int, str], Mapping[str, object]]


class VerificationError(Exception):
    """A request that is not a valid psu-sched call for this app.

    `reason` is one of :data:`REASONS`; the message adds a detail for the app's logs. Neither
    ever contains a key. The HTTP answer should say no more than 403.
    """

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Verified:
    """A verified call: what it runs and which key generation signed it."""

    #: The execution id, as sent in X-Psu-Sched-Execution.
    execution: str
    #: The job's immutable id (32 hex digits).
    job_id: str
    #: The slot the execution runs (for `manual`, the second it was started), in UTC.
    slot: datetime
    #: `schedule` or `manual`.
    trigger: str
    #: The attempt, from 1.
    attempt: int
    #: `<app>/<job name>`, as sent in X-Psu-Sched-Job.
    job: str
    #: The app's name.
    app: str
    #: The job's name.
    name: str
    #: The generation of the app key that verified: the label the app gave that key
    #: (``"2:<key>"``), or None for a key held without a label. Never taken from the request.
    generation: int | None
    #: The signature's timestamp (unix seconds).
    timestamp: int
    #: The generation the matching signature's `kid` names. Nothing signs the `kid`: it is the
    #: caller's label, for logs, not proof of which key signed (see `generation`).
    kid_generation: int


def app_key(deployment_secret: str, app: str, generation: int, salt: str | None = None) -> str:
    """The key of `app` at `generation`, as `psu-sched app key --app APP` prints it.

    `salt` is the app record's (random per record, so an app created again under its name gets
    new keys); records written before salts existed have none. Only the scheduler holds the
    deployment secret; this is here for tests and tooling.
    """
    message = f"{_KEY_LABEL}\n{app}\n{generation}"
    if salt is not None:
        message += f"\n{salt}"
    message = message.encode()
    return hmac.new(deployment_secret.encode(), message, hashlib.sha256).hexdigest()


def signed_string(
    t: str | int, execution: str, job: str, method: str, path: str, body: bytes | str = b""
) -> str:
    """The string a v2 signature covers (seven lines joined by newlines)."""
    return "\n".join(
        [SCHEME, str(t), execution, job, method.upper(), path, hashlib.sha256(_bytes(body)).hexdigest()]
    )


def sign(
    keys: Iterable[tuple[str, int, str]],
    *,
    t: int,
    execution: str,
    job: str,
    method: str,
    path: str,
    body: bytes | str = b"",
) -> str:
    """An X-Psu-Sched-Signature value as the scheduler writes it, for tests of an app's jobs.

    `keys`: `(app, generation, key)` triples, one `kid`/`v2` pair each; `key` may be
    labelled (``"1:<key>"``, as in PSU_SCHED_KEYS): the label is not part of the key.
    """
    payload = signed_string(t, execution, job, method, path, body).encode()
    parts = [f"t={t}"]
    for app, generation, held in keys:
        key = held_key(held)[0]
        digest = hmac.new(key.encode("ascii"), payload, hashlib.sha256).hexdigest()
        parts.append(f"kid={app}:{generation},v2={digest}")
    return ",".join(parts)


def held_key(entry: object) -> tuple[str, int | None]:
    """`(key, generation or None)` of one held key (see :data:`HeldKey`).

    Raises TypeError for an entry of another shape and ValueError for a label that is not a
    generation (digits, at most 4294967295); neither message contains the key.
    """
    if isinstance(entry, str):
        label, colon, key = entry.rpartition(":")
        if not colon:
            return entry, None
        if not (label.isascii() and label.isdigit() and key):
            raise ValueError("a held key's label is not a generation (<generation>:<key>)")
        generation = _bounded(label, _U32_MAX)
    elif isinstance(entry, tuple) and len(entry) == 2:
        generation, key = entry
    elif isinstance(entry, Mapping) and set(entry) == {"generation", "key"}:
        generation, key = entry["generation"], entry["key"]
    else:
        raise TypeError(
            'a held key is "<key>", "<generation>:<key>", (generation, key) or '
            '{"generation": ..., "key": ...}'
        )
    if not isinstance(key, str):
        raise TypeError("a held key is a string")
    if isinstance(generation, bool) or not isinstance(generation, int) or not 0 <= generation <= _U32_MAX:
        raise ValueError("a held key's generation is not an integer from 0 to 4294967295")
    return key, generation


def verify(
    *,
    app: str,
    keys: HeldKey | Iterable[HeldKey],
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes | str = b"",
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> Verified:
    """Verifies one request as app `app`, holding `keys` (one, or two during a rotation).

    `keys`: each a key, or a key labelled with its generation (:data:`HeldKey`): the
    :class:`Verified` call's `generation` is the label of the key that verified (None for an
    unlabelled key). The request's `kid` is not signed, so its label is reported only as
    `kid_generation`.

    `headers`: any mapping (a dict, Django's ``request.headers``); names are matched without
    regard to case. `path`: the path and query exactly as on the request line (undecoded);
    behind a proxy that strips a prefix, the prefix followed by what the app received.
    `now`: unix seconds, the clock by default.

    Returns the :class:`Verified` call, or raises :class:`VerificationError` whose `reason`
    is, checking in this order: `malformed`, `missing_header`, `wrong_app`, `stale`,
    `mismatch`.
    """
    # One key may be given alone (a string or a mapping); a (generation, key) pair goes in a
    # list, since a tuple of keys is a sequence of keys.
    held = [held_key(keys)] if isinstance(keys, (str, Mapping)) else [held_key(k) for k in keys]

    # 1. The signature header: t, then (kid, v2) pairs; unknown parts are ignored.
    signature = _header(headers, HEADER_SIGNATURE)
    if signature is None:
        raise VerificationError("malformed", f"no {HEADER_SIGNATURE} header")
    t_text: str | None = None
    kid: tuple[str, int] | None = None
    pairs: list[tuple[str, int, str]] = []
    for part in signature.split(","):
        name, _, value = part.strip().partition("=")
        name, value = name.strip(), value.strip()
        if name == "t":
            if t_text is not None:
                raise VerificationError("malformed", "more than one t")
            if not (value.isascii() and value.isdigit()):
                raise VerificationError("malformed", "t is not an integer")
            t_text = value
        elif name == "kid":
            kid = _kid(value)
        elif name == "v2":
            # Each v2 belongs to the kid just before it, and a kid to one v2.
            if kid is None:
                raise VerificationError("malformed", "a v2 without a preceding kid")
            pairs.append((kid[0], kid[1], value))
            kid = None
    if t_text is None:
        raise VerificationError("malformed", "no t")
    if not pairs:
        raise VerificationError("malformed", "no kid/v2 pair")

    # 2. The execution and the job it names.
    execution = _header(headers, HEADER_EXECUTION)
    if execution is None:
        raise VerificationError("missing_header", f"no {HEADER_EXECUTION} header")
    parsed = _EXECUTION.fullmatch(execution)
    job_id, slot_text, trigger, attempt_text = parsed.groups() if parsed else (None,) * 4
    attempt = None if parsed is None else _bounded(attempt_text, _U32_MAX)
    slot = None if attempt is None else _slot(slot_text)
    if slot is None:
        raise VerificationError(
            "missing_header",
            f"{HEADER_EXECUTION} is not <job id>.<YYYYMMDDTHHMMSSZ>.<s|m><attempt>",
        )
    job = _header(headers, HEADER_JOB)
    if job is None:
        raise VerificationError("missing_header", f"no {HEADER_JOB} header")
    job_app, slash, job_name = job.partition("/")
    if not (slash and _NAME.fullmatch(job_app) and _NAME.fullmatch(job_name)):
        raise VerificationError("missing_header", f"{HEADER_JOB} is not <app>/<job name>")

    # 3. Meant for this app.
    if job_app != app:
        raise VerificationError("wrong_app", f"the job belongs to app {job_app!r}, not {app!r}")
    ours = [(generation, v2) for kid_app, generation, v2 in pairs if kid_app == app]
    if not ours:
        raise VerificationError("wrong_app", f"no kid names app {app!r}")

    # 4. Fresh. A t beyond 64 bits is never converted: it is as stale as can be.
    t = _bounded(t_text, _T_MAX)
    if t is None:
        raise VerificationError("stale", "t is beyond 64 bits")
    now = time.time() if now is None else now
    if abs(now - t) > tolerance:
        raise VerificationError("stale", f"t is {int(now - t)} s from this clock (tolerance {tolerance} s)")

    # 5. Signed with one of our keys.
    payload = signed_string(t_text, execution, job, method, path, body).encode()
    for key, key_generation in held:
        expected = hmac.new(key.encode("ascii"), payload, hashlib.sha256).hexdigest().encode()
        for kid_generation, v2 in ours:
            if hmac.compare_digest(expected, v2.encode("utf-8", "surrogateescape")):
                return Verified(
                    execution=execution,
                    job_id=job_id,
                    slot=slot,
                    trigger=_TRIGGERS[trigger],
                    attempt=attempt,
                    job=job,
                    app=job_app,
                    name=job_name,
                    generation=key_generation,
                    timestamp=t,
                    kid_generation=kid_generation,
                )
    raise VerificationError(
        "mismatch",
        f"no v2 signature for kid {app}:* matches the {len(held)} key(s) held "
        f"(generations signed: {', '.join(str(g) for g, _ in ours)})",
    )


def valid_key(key: object) -> bool:
    """Whether `key` has the form of an app key (64 lowercase hex digits)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def valid_name(name: object) -> bool:
    """Whether `name` is a valid app or job name (`[A-Za-z0-9_-]`, 1 to 64)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def _bounded(digits: str, limit: int) -> int | None:
    """The value of `digits` (ASCII digits only), or None when it is above `limit`.

    Leading zeros are only zeros; the rest is converted only when it has no more digits than
    `limit`, so no input reaches int()'s 4,300-digit limit or a float's range.
    """
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(limit)):
        return None
    value = int(significant)
    return value if value <= limit else None


def _slot(text: str) -> datetime | None:
    """The slot of an execution id (`YYYYMMDDTHHMMSSZ`) in UTC, or None when it is no date."""
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _kid(value: str) -> tuple[str, int]:
    kid_app, colon, generation = value.rpartition(":")
    if not (colon and kid_app and generation.isascii() and generation.isdigit()):
        raise VerificationError("malformed", "a kid is not <app>:<generation>")
    number = _bounded(generation, _U32_MAX)
    if number is None:
        raise VerificationError("malformed", "a kid's generation is beyond 32 bits")
    return kid_app, number


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lower:
                value = candidate
                break
    return value


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)
