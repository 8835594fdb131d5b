"""A round of webhook requests (engine/http/group_commit.py): everything a request needs
from Redis or the database, for every request waiting, in one pass of the rounds thread.

``serve``'s receiver (engine/http/app.py) checks on the event loop what needs nothing —
the content type, the size while reading the body — and hands each request to the rounds
once, as a ``HookRequest`` carrying the answer it is owed for those (415, 413). A round
then, in the contract's order: looks up every path's hooks (one read of the workflow
cache's number: 404 when none); checks each signature against the hooks' secrets and
parses each body; counts the requests against their rate limits (429 with
``Retry-After``) and claims the signatures that held (401 for a replay), both in one
call of the round's store (engine/http/round_redis.py); writes the executions of the
requests that passed (one transaction: ``start_hooks``); and enqueues them and releases
the claims of requests refused after their claim in one more call. Every request is
answered at the end of its round.

A request refused after its signatures were claimed releases them, so the sender's retry
passes; a 400 for a body that cannot be stored keeps them (the signature was used).
Storage trouble answers 503 with ``Retry-After``; nothing half-done is left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from engine.http.group_commit import Answer, Job
from engine.http.hook_checks import BadBody, accepted_hooks, json_object
from engine.http.hooks import Hook, hooks_on
from engine.http.hooks import start_requests as start_hooks  # a round's inserts (tests patch it)
from engine.http.round_redis import Collected, RoundStore
from engine.http.signature import SignatureError

if TYPE_CHECKING:
    from engine.http.app import Receiver

log = logging.getLogger("wfconsole.http")


def error_answer(status: int, message: str, **headers: str) -> JSONResponse:
    """A JSON error answer: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _unavailable() -> JSONResponse:
    return error_answer(503, "temporarily unavailable", **{"Retry-After": "5"})


def _too_many(wait: float) -> JSONResponse:
    return error_answer(429, "rate limit exceeded", **{"Retry-After": str(int(wait))})


class HookRequest(Job):
    """One ``POST /hooks/{path}`` as the event loop leaves it to the round."""

    def __init__(
        self, path: str, client: str, header: str | None, body: bytes, owed: JSONResponse | None
    ) -> None:
        self.path = path
        self.client = client
        self.header = header
        """The ``X-Wf-Signature`` header, if any."""
        self.body = body
        self.owed = owed
        """The answer the loop's checks came to (415, 413), given once path and limit pass."""


@dataclass
class _Checked:
    """A request whose path has hooks: what its signature and body came to."""

    job: HookRequest
    hooks: list[Hook]
    verdict: JSONResponse | None = None
    """Its answer when it is refused whatever the stores say (after the rate limit)."""
    signatures: list[str] = field(default_factory=list)
    """The signatures to claim (empty for a refused request or hooks without a secret)."""
    data: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    """The body cannot be stored: a 400 once the replay check passed."""


def hook_round(receiver: Receiver, store: RoundStore, jobs: list[Job], answer: Answer) -> None:
    """One round of requests: see the module docstring."""
    answer(_round(receiver, store, [job for job in jobs if isinstance(job, HookRequest)]))


def _round(receiver: Receiver, store: RoundStore, jobs: list[HookRequest]) -> list[tuple[Job, Any]]:
    results: list[tuple[Job, Any]] = []
    found = _look_up(receiver, jobs)
    checked: list[_Checked] = []
    for job in jobs:
        hooks = found.get(job.path)
        if hooks is None:
            results.append((job, _unavailable()))
        elif not hooks:
            results.append((job, error_answer(404, "no webhook trigger on this path")))
        else:
            wait = receiver.over_limit.wait(_limit_key(job))
            if wait is not None:  # over already in this window: no count, no signature check
                results.append((job, _too_many(wait)))
            else:
                checked.append(_check(receiver, job, hooks))
    if not checked:
        return results
    limit = receiver.settings.security.rate_limit_per_minute
    keep = 2 * receiver.settings.security.signature_tolerance  # valid either side of its time
    try:
        waits, fresh = store.count_and_claim(
            [(_limit_key(c.job), limit) for c in checked],
            [s for c in checked for s in c.signatures], keep,
        )  # fmt: skip
    except Exception:
        log.exception("rate limit or replay store unavailable")
        return results + [(c.job, _unavailable()) for c in checked]
    release: list[str] = []
    starting: list[_Checked] = []
    position = 0
    for request, wait in zip(checked, waits, strict=True):
        mine = fresh[position : position + len(request.signatures)]
        position += len(request.signatures)
        claimed = [s for s, first in zip(request.signatures, mine, strict=True) if first]
        if wait is not None:
            receiver.over_limit.add(_limit_key(request.job))
            release.extend(claimed)
            results.append((request.job, _too_many(wait)))
        elif request.verdict is not None:
            results.append((request.job, request.verdict))
        elif not all(mine):
            # Used already (on any path): the key is the signature alone, so a signature
            # shared by hooks with one secret is used up on all of them.
            release.extend(claimed)
            results.append((request.job, error_answer(401, "signature already used (replay)")))
        elif request.problem is not None:
            results.append((request.job, error_answer(400, request.problem)))
        else:
            starting.append(request)
    collected = Collected()
    if starting:
        results += _start(receiver, starting, collected, release)
    store.enqueue_and_release(collected.ids, release)
    return results


def _limit_key(job: HookRequest) -> str:
    return f"{job.client}|{job.path}"


def _look_up(receiver: Receiver, jobs: list[HookRequest]) -> dict[str, list[Hook]]:
    """Each path's hooks (one read of the cache's number for the round); a path whose
    lookup failed is missing (its requests are answered 503)."""
    db = receiver.db
    found: dict[str, list[Hook]] = {}
    try:
        generation = db.workflow_cache.generation(db)
    except Exception:
        log.exception("hook lookup failed")
        return found
    for path in dict.fromkeys(job.path for job in jobs):
        try:
            found[path] = hooks_on(db, path, generation=generation)
        except Exception:
            log.exception("hook lookup failed")
    return found


def _check(receiver: Receiver, job: HookRequest, hooks: list[Hook]) -> _Checked:
    """The loop's answer, the signature, then the body: what the request comes to."""
    if job.owed is not None:
        return _Checked(job, hooks, verdict=job.owed)
    security = receiver.settings.security
    try:
        hooks, signatures = accepted_hooks(
            hooks, job.header, job.body, vault=receiver.db.vault, now=receiver.clock,
            tolerance=security.signature_tolerance,
        )  # fmt: skip
    except SignatureError as exc:
        return _Checked(job, hooks, verdict=error_answer(401, str(exc)))
    try:
        return _Checked(job, hooks, signatures=signatures, data=json_object(job.body))
    except BadBody as exc:
        if not signatures:  # no replay to check first
            return _Checked(job, hooks, verdict=error_answer(400, str(exc)))
        return _Checked(job, hooks, signatures=signatures, problem=str(exc))


def _start(
    receiver: Receiver, requests: list[_Checked], queue: Collected, release: list[str]
) -> list[tuple[Job, Any]]:
    """The executions of the requests that passed (one transaction; their ids go to
    ``queue``): their answers. A request not started adds its signatures to ``release``
    (nothing of it was accepted, so the sender's retry must pass)."""
    try:
        started = start_hooks(receiver.db, queue, [(r.hooks, r.data) for r in requests])
    except Exception:
        log.exception("could not start webhook executions")
        started = None
    results: list[tuple[Job, Any]] = []
    for index, request in enumerate(requests):
        outcome = None if started is None else started[index]
        if isinstance(outcome, list):
            results.append((request.job, JSONResponse({"executions": outcome}, status_code=202)))
            continue
        if outcome is not None:  # a workflow changed during the accept (a race)
            log.warning("webhook on %r not started: %s; answered 503", request.job.path, outcome)
        release.extend(request.signatures)
        results.append((request.job, _unavailable()))
    return results
