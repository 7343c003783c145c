"""Idempotency keys for execute requests, after Stripe's model.

The first request with a key INSERTs it (committed before its run starts; the unique
(user, key) constraint makes exactly one of concurrent requests the one that runs), with
the id its run will have. When the run ends, its answer (status code and body) is stored
on the key; for 24 hours every later request with the same key and the same request gets
that answer back without running anything.

A key whose first request never stored an answer (its worker died, or the request ended
in a server error) does not stay "in progress" forever: once its run has finished, or
has outlived its time limit plus the reaper's grace, the key is settled with an answer
built from the run's record. The run is never started again under the same key: side
effects it had before it stopped may have happened, so only a new key runs it again.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from workflows.models import IdempotencyKey, NodeRun, Run, RunStatus, new_run_id

#: how long a key's answer is replayed; older keys are ignored, then pruned
LIFETIME = timedelta(hours=24)


class Claim(enum.Enum):
    #: this request holds the key: run, then `complete()` (or `release()`)
    RUN = "run"
    #: the first request's answer is on the key: send it
    REPLAY = "replay"
    #: the first request is still running
    IN_PROGRESS = "in_progress"
    #: the key was used for a different request
    MISMATCH = "mismatch"


def expired_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - LIFETIME


def claim(user: AbstractBaseUser, key: str, request_hash: str,
          now: datetime | None = None) -> tuple[Claim, IdempotencyKey]:
    """Take `key` for this request, or say why not (with the key's record)."""
    now = now or timezone.now()
    for _ in range(3):  # the row may vanish or expire between our INSERT and SELECT
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=user, key=key, request_hash=request_hash, created_at=now,
                    run_id=new_run_id())
            return Claim.RUN, record
        except IntegrityError:
            pass
        record = IdempotencyKey.objects.filter(user=user, key=key).first()
        if record is None:
            continue
        if record.created_at < expired_before(now):
            if _take_over(record, request_hash, now):
                return Claim.RUN, record
            continue
        if record.request_hash != request_hash:
            return Claim.MISMATCH, record
        if record.response_status is not None or _settle_abandoned(record, now):
            return Claim.REPLAY, record
        return Claim.IN_PROGRESS, record
    raise RuntimeError(f"could not claim idempotency key {key!r}")  # pragma: no cover


def _take_over(record: IdempotencyKey, request_hash: str, now: datetime) -> bool:
    """Reuse an expired key's row for a new request; False if another request did first
    (the UPDATE matches the old creation time only once)."""
    fresh = {"created_at": now, "request_hash": request_hash, "run_id": new_run_id(),
             "response_status": None, "response_body": ""}
    taken = IdempotencyKey.objects.filter(pk=record.pk, created_at=record.created_at).update(
        **fresh)
    if taken:
        for name, value in fresh.items():
            setattr(record, name, value)
    return bool(taken)


def complete(record: IdempotencyKey, status: int, body: str) -> None:
    """Store the first request's answer. If the key was settled meanwhile (its request
    outlived its limit), the settled answer stays: replays never change."""
    IdempotencyKey.objects.filter(pk=record.pk, response_status__isnull=True).update(
        response_status=status, response_body=body)


def release(record: IdempotencyKey) -> None:
    """The request was refused before anything ran (bad inputs, unknown workflow): forget
    the key, so a corrected retry may use it (Stripe does the same)."""
    IdempotencyKey.objects.filter(pk=record.pk, response_status__isnull=True).delete()


def _settle_abandoned(record: IdempotencyKey, now: datetime) -> bool:
    """If the key's first request can no longer answer, store an answer from its run's
    record on the key (the first such answer wins) and return True."""
    answer = abandoned_answer(record, now)
    if answer is None:
        return False
    status, data = answer
    # As the API renders JSON: compact, UTF-8 (values from the database are JSON already).
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    IdempotencyKey.objects.filter(pk=record.pk, response_status__isnull=True).update(
        response_status=status, response_body=body)
    record.refresh_from_db(fields=["response_status", "response_body"])
    return record.response_status is not None


def abandoned_answer(record: IdempotencyKey,
                     now: datetime) -> tuple[int, dict[str, Any]] | None:
    """(status, body) for a key whose request stopped without storing its answer, or None
    while that request may still be running."""
    grace = timedelta(seconds=settings.THAIYYAL_REAP_GRACE_SECONDS)
    run = Run.objects.filter(pk=record.run_id).first() if record.run_id else None
    if run is None:
        # No row: the run is younger than the running-row delay, or it was an unrecorded
        # ad-hoc run, or its worker died before the row was written.
        from workflows.services import server_limits

        limit = timedelta(seconds=server_limits().max_execution_time)
        if record.created_at > now - limit - grace:
            return None
        return 422, _interrupted_body(record.run_id, "the request with this key stopped "
                                      "before its run was recorded (its worker died)")
    if run.status == RunStatus.RUNNING:
        limit = timedelta(seconds=float((run.limits or {}).get("max_execution_time", 0)))
        if run.started_at > now - limit - grace:
            return None
        return 422, _interrupted_body(run.pk, "the run did not finish within its time "
                                      "limit; its worker is gone")
    return run_answer(run)


def _interrupted_body(run_id: Any, message: str) -> dict[str, Any]:
    message += "; it is not run again under the same key: send a new key to run it again"
    return {"success": False, "run_id": str(run_id) if run_id else None,
            "status": str(RunStatus.INTERRUPTED), "execution_time_ms": None,
            "results": {"final_output": None,
                        "error": {"code": "interrupted", "node_id": None, "message": message}},
            "nodes": [], "error": message, "failed_node": None,
            "details": [{"path": "$", "message": message, "code": "interrupted"}]}


def run_answer(run: Run) -> tuple[int, dict[str, Any]]:
    """An execute answer rebuilt from a finished run's record: 200 when it succeeded, 422
    otherwise (node outputs as stored, so possibly previews)."""
    node_runs = list(NodeRun.objects.filter(run=run))
    nodes = [{"id": n.node_id, "type": n.node_type, "status": n.status,
              "started_ms": n.started_offset_ms, "duration_ms": n.duration_ms,
              "error": n.error or None, "attempts": n.attempts} for n in node_runs]
    outputs = {n.node_id: n.output for n in node_runs if n.output is not None}
    body: dict[str, Any] = {
        "success": run.status == RunStatus.SUCCEEDED, "run_id": str(run.pk),
        "status": run.status, "execution_time_ms": run.duration_ms,
        "results": {"execution_id": run.execution_id, "node_results": outputs,
                    "final_output": run.final_output, "error": run.error},
        "nodes": nodes}
    if run.status == RunStatus.SUCCEEDED:
        return 200, body
    error = run.error or {}
    message = error.get("message") or "run failed"
    body.update({"error": message, "failed_node": error.get("node_id"),
                 "details": [{"path": "$", "message": message, "code": error.get("code")}]})
    return 422, body
