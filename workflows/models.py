"""Stored workflows, their versions, and the history of runs."""

from __future__ import annotations

import secrets
import time
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_run_id() -> uuid.UUID:
    """A time-ordered UUID (version 7 layout): new runs land at the right edge of the
    primary-key index instead of at random pages, which keeps inserts cheap."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76                        # version 7
    value |= ((rand >> 62) & 0xFFF) << 64     # 12 random bits
    value |= 0b10 << 62                       # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)           # 62 random bits
    return uuid.UUID(int=value)


class ExecutionMode(models.TextChoices):
    SYNC = "sync"
    ASYNC = "async"
    AUTO = "auto"


class LiveWorkflowManager(models.Manager["Workflow"]):
    """Workflows that are not deleted: what the API, the admin and execute see."""

    def get_queryset(self) -> models.QuerySet[Workflow]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Workflow(models.Model):
    """A named workflow. Its definition lives in versions; `current_version` is the one
    that runs unless a caller names another.

    Deleting a workflow only sets `deleted_at` (services.delete_workflow): it disappears
    from `Workflow.objects` (lists, details, execute), while its versions stay, so a run
    still in flight can record the version it ran and old runs keep theirs. Deleted
    workflows no run references are purged later (maintenance.purge_deleted_workflows).
    `Workflow.all_objects` sees every row; related lookups (`run.workflow`) do too.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    description = models.TextField(blank=True, default="")
    # indexed by the (owner, slug) constraint and the (owner, updated) index below.
    # PROTECT: deleting a user must not take their workflows' versions (and so what their
    # runs ran) with them; the user is deleted once their workflows are purged.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="workflows", db_index=False)
    current_version = models.ForeignKey("WorkflowVersion", null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    #: when it was deleted; null while it is live
    deleted_at = models.DateTimeField(null=True, blank=True)
    #: how its runs execute: in the request (`sync`), on a queue worker (`async`), or on
    #: the queue when the run may last longer than the web tier's limit (`auto`)
    execution_mode = models.CharField(max_length=8, choices=ExecutionMode.choices,
                                      default=ExecutionMode.SYNC,
                                      db_default=ExecutionMode.SYNC)
    #: POST /api/v1/hooks/<secret> runs it (the JSON body as its inputs); empty: no
    #: webhook. Rotated in the admin (services.rotate_webhook_secret).
    webhook_secret = models.CharField(max_length=64, blank=True, default="", db_default="")

    objects = LiveWorkflowManager()
    all_objects: models.Manager[Workflow] = models.Manager()

    class Meta:
        ordering = ["name", "id"]
        base_manager_name = "all_objects"
        constraints = [
            # Among live workflows only: a deleted workflow's slug is free again.
            models.UniqueConstraint(fields=["owner", "slug"],
                                    condition=models.Q(deleted_at__isnull=True),
                                    name="workflow_unique_owner_slug_live"),
            models.UniqueConstraint(fields=["webhook_secret"],
                                    condition=~models.Q(webhook_secret=""),
                                    name="workflow_unique_webhook_secret"),
        ]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="workflow_owner_updated")]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    """One saved definition. Never changed after it is written: a change is a new version,
    and old versions stay runnable."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    #: sha256 of the canonical JSON: saving an identical definition makes no new version
    checksum = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"],
                                    name="workflowversion_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"


class RunStatus(models.TextChoices):
    #: waiting on the queue for a worker (queue mode)
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: the worker died (killed, out of memory, restarted) before the run finished
    INTERRUPTED = "interrupted"
    #: stopped at a user's request (POST /api/v1/runs/{id}/cancel)
    CANCELLED = "cancelled"


class Trigger(models.TextChoices):
    """How a run was started."""

    API = "api"
    ADMIN = "admin"
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"


class CallbackState(models.TextChoices):
    """Where a queued run's callback (POST of its answer to `callback_url`) stands."""

    #: no callback_url, or the run has not ended yet
    NONE = "", "none"
    #: queued for delivery, or waiting for a retry
    PENDING = "pending"
    DELIVERED = "delivered"
    #: not retried: the address is refused by the egress policy, or a 4xx other than
    #: 408/425/429
    REFUSED = "refused"
    #: THAIYYAL_CALLBACK_ATTEMPTS attempts failed
    GAVE_UP = "gave_up"


class Run(models.Model):
    """One execution, stored or ad-hoc (no version). Written once at the end, or committed
    as `running` first when it takes longer than THAIYYAL_RUNNING_ROW_AFTER_MS.

    The queue-mode columns have database defaults too: a server of the previous release
    (still running during a rolling upgrade) inserts runs without them."""

    id = models.UUIDField(primary_key=True, default=new_run_id, editable=False)
    #: denormalised from `version` so history by workflow needs no join
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="runs", db_index=False)
    version = models.ForeignKey(WorkflowVersion, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    #: the engine's id for the run (Thaiyyal's 16 hex digits), as in its results
    execution_id = models.CharField(max_length=32, blank=True, default="")
    final_output = models.JSONField(null=True, blank=True)
    #: the failure that stopped the run: {code, node_id, message}
    error = models.JSONField(null=True, blank=True)
    #: the limits the run had (the server's, lowered by the request)
    limits = models.JSONField(default=dict)
    inputs = models.JSONField(null=True, blank=True)
    node_count = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="runs",
                                     db_index=False)
    worker_host = models.CharField(max_length=255, blank=True, default="")
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    #: how the run was started (its starter is `requested_by`)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API,
                               db_default=Trigger.API)
    #: queue mode: when the run was queued (`started_at` is when a worker took it)
    queued_at = models.DateTimeField(null=True, blank=True)
    #: queue mode: the ad-hoc payload a worker is to run (stored runs have `version`)
    payload = models.JSONField(null=True, blank=True)
    #: when someone asked for the run to stop (the process running it polls for this)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    #: queue mode: where the run's answer is POSTed when it ends
    callback_url = models.URLField(max_length=2000, blank=True, default="", db_default="")
    #: queue mode: the callback's delivery (set once the run has ended; see callbacks.py)
    callback_state = models.CharField(max_length=16, choices=CallbackState.choices,
                                      blank=True, default="", db_default="")
    callback_attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    #: why the last attempt failed (the receiver's status or the connection error)
    callback_error = models.CharField(max_length=500, blank=True, default="", db_default="")
    #: when the last attempt was made
    callback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        # The history views: newest first, by workflow, by user, by status, slowest first.
        # The workflow and user foreign keys are indexed only through these.
        indexes = [
            models.Index(fields=["-started_at"], name="run_started"),
            models.Index(fields=["workflow", "-started_at"], name="run_workflow_started"),
            models.Index(fields=["requested_by", "-started_at"], name="run_user_started"),
            models.Index(fields=["status", "-started_at"], name="run_status_started"),
            models.Index(fields=["-duration_ms"], name="run_duration"),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"


class NodeRun(models.Model):
    """One node's part in a run; written in one bulk insert with the finished run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="node_runs",
                            db_index=False)
    node_id = models.CharField(max_length=200)
    node_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    #: milliseconds from the run's start
    started_offset_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    #: the node's result; a preview when longer than THAIYYAL_NODE_OUTPUT_MAX_BYTES
    output = models.JSONField(null=True, blank=True)
    output_truncated = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")

    class Meta:
        # In the order they started; nodes that never ran (skipped) last, on every database.
        ordering = ["run", models.F("started_offset_ms").asc(nulls_last=True), "id"]
        indexes = [models.Index(fields=["run", "started_offset_ms"], name="noderun_run_start")]

    def __str__(self) -> str:
        return f"{self.node_id} ({self.status})"


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` a user sent with an execute request (Stripe's model): the
    first request inserts it (the unique constraint decides which of concurrent requests
    runs), links the run it starts, and stores its answer, which later requests with the
    same key replay for 24 hours (workflows/idempotency.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    #: sha256 of the request's method, path, query and body: the same key with another
    #: request is refused
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    #: the run the first request started (its row may come later, or never for an
    #: unrecorded ad-hoc run); no foreign key, so the key can be written first
    run_id = models.UUIDField(null=True, blank=True)
    #: the first request's answer, once it is known
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotencykey_unique_user_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotencykey_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status or 'pending'})"


class CredentialKind(models.TextChoices):
    BEARER = "bearer", "bearer token (Authorization: Bearer ...)"
    BASIC = "basic", "basic auth (username and password)"
    API_KEY = "api_key", "API key in a header"


class Credential(models.Model):
    """A secret an http or paginator node uses by name (`"credential": "<name>"`): its
    owner's runs send it to `base_url`'s origin and nowhere else.

    The secret (token, key, or username and password) is stored encrypted
    (workflows/secrets.py) and is never shown again: not by the API, the admin, run
    records, logs or metrics. Only its owner's workflows can use it.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="credentials", db_index=False)
    name = models.SlugField(max_length=100, help_text="what nodes name it by")
    kind = models.CharField(max_length=10, choices=CredentialKind.choices)
    base_url = models.URLField(max_length=500, help_text="the only origin it is sent to")
    header = models.CharField(max_length=100, blank=True, default="",
                              help_text="api_key: the header that carries it (X-API-Key)")
    #: Fernet token of the secret's JSON ({"token"} / {"username", "password"} / {"api_key"})
    encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"],
                                               name="credential_unique_name_per_owner")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
