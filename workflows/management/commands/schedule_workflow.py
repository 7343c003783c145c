"""Run a stored workflow on a schedule (queue mode: `thaiyyal scheduler` starts the runs,
`thaiyyal worker`s execute them). The schedule is a django-celery-beat periodic task:
list, edit, pause or delete it in the admin (Periodic tasks)."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from workflows.models import Workflow
from workflows.queueing import schedule_problems
from workflows.tasks import SCHEDULED_TASK


class Command(BaseCommand):
    help = "Run a stored workflow on a cron schedule or every N seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", type=int, help="the workflow's id")
        when = parser.add_mutually_exclusive_group(required=True)
        when.add_argument("--cron", help='five cron fields, UTC, e.g. "*/5 * * * *"')
        when.add_argument("--every", type=int, metavar="SECONDS", help="every N seconds")
        parser.add_argument("--inputs", default="{}", help="JSON object: the runs' inputs")
        parser.add_argument("--name", default=None, help="the schedule's name (unique)")

    def handle(self, *args: Any, **options: Any) -> None:
        workflow = Workflow.objects.filter(pk=options["workflow"]).first()
        if workflow is None:
            raise CommandError(f"workflow {options['workflow']}: no such workflow")
        try:
            inputs = json.loads(options["inputs"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--inputs: not JSON: {exc}") from None
        if not isinstance(inputs, dict):
            raise CommandError("--inputs: must be a JSON object {name: value}")
        # now, not at each turn: a bad input would fail every run of the schedule
        problems = schedule_problems({"workflow": workflow.pk, "inputs": inputs})
        if problems:
            raise CommandError("--inputs: " + "; ".join(problems))
        schedule: dict[str, Any]
        if options["every"] is not None:
            if options["every"] < 1:
                raise CommandError("--every: must be at least 1 second")
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=options["every"], period=IntervalSchedule.SECONDS)
            schedule = {"interval": interval}
        else:
            fields = options["cron"].split()
            if len(fields) != 5:
                raise CommandError("--cron: needs five fields: minute hour day month weekday")
            minute, hour, day, month, weekday = fields
            when = {"minute": minute, "hour": hour, "day_of_month": day,
                    "month_of_year": month, "day_of_week": weekday, "timezone": "UTC"}
            try:  # the scheduler would only find out at its next tick
                CrontabSchedule(**when).full_clean()
            except ValidationError as exc:
                raise CommandError(f"--cron: {'; '.join(exc.messages)}") from None
            crontab, _ = CrontabSchedule.objects.get_or_create(**when)
            schedule = {"crontab": crontab}
        name = options["name"] or f"{workflow.name} ({workflow.pk}): " + (
            options["cron"] or f"every {options['every']}s")
        task = PeriodicTask.objects.create(
            name=name, task=SCHEDULED_TASK,
            kwargs=json.dumps({"workflow": workflow.pk, "inputs": inputs}), **schedule)
        self.stdout.write(f"schedule {task.pk}: {name}")
