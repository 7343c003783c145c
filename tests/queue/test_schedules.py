"""`schedule_workflow`: cron and interval schedules (django-celery-beat periodic tasks),
checked when they are made (cron fields, inputs), and what beat sends for one of them
running the workflow as a `schedule` run (the task executed here, as a worker would)."""

from __future__ import annotations

import json
import uuid
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from workflows import tasks
from workflows.models import Run, RunStatus

pytestmark = pytest.mark.django_db


def schedule(*args: str) -> PeriodicTask:
    out = StringIO()
    call_command("schedule_workflow", *args, stdout=out)
    task_id = int(out.getvalue().split()[1].rstrip(":"))
    return PeriodicTask.objects.select_related("crontab", "interval").get(pk=task_id)


def test_a_cron_schedule_is_a_utc_crontab_whose_turns_run_the_workflow(
        greeting: Any, queue: Any) -> None:
    task = schedule(str(greeting.pk), "--cron", "*/5 3 * * 1-5",
                    "--inputs", '{"name": "cron"}')

    assert task.task == "thaiyyal.scheduled_run"
    assert task.interval is None
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year,
            cron.day_of_week, str(cron.timezone)) == ("*/5", "3", "*", "*", "1-5", "UTC")
    assert sorted(cron.schedule.minute) == list(range(0, 60, 5))
    assert task.name == f"Greeting ({greeting.pk}): */5 3 * * 1-5"
    # a turn: what beat sends (the task's kwargs), run here as a worker would
    turn = uuid.uuid4()
    tasks.scheduled_run.apply(kwargs=json.loads(task.kwargs), task_id=str(turn))
    run = Run.objects.get(pk=turn)
    assert (run.status, run.trigger, run.inputs) == (RunStatus.SUCCEEDED, "schedule",
                                                     {"name": "cron"})
    assert run.requested_by == greeting.owner
    assert run.final_output == "hello cron x1"


@pytest.mark.parametrize(("cron", "says"), [
    ("*/5 * * *", "needs five fields"),
    ("99 * * * *", "--cron:"),
    ("* * * * funday", "--cron:"),
])
def test_a_bad_cron_is_refused_when_the_schedule_is_made(greeting: Any, cron: str,
                                                         says: str) -> None:
    with pytest.raises(CommandError, match=says):
        call_command("schedule_workflow", str(greeting.pk), "--cron", cron, stdout=StringIO())
    assert not PeriodicTask.objects.filter(task="thaiyyal.scheduled_run").exists()


def test_inputs_the_workflow_refuses_are_refused_when_the_schedule_is_made(
        greeting: Any) -> None:
    with pytest.raises(CommandError, match=r"\$\.inputs\.nope"):
        call_command("schedule_workflow", str(greeting.pk), "--every", "60",
                     "--inputs", '{"nope": 1}', stdout=StringIO())
    assert not PeriodicTask.objects.filter(task="thaiyyal.scheduled_run").exists()


def test_an_interval_schedule_is_made_in_seconds(greeting: Any) -> None:
    task = schedule(str(greeting.pk), "--every", "90", "--name", "ninety")

    assert (task.name, task.interval.every, task.interval.period) == ("ninety", 90, "seconds")
    assert json.loads(task.kwargs) == {"workflow": greeting.pk, "inputs": {}}


def admin_form(name: str, kwargs: Any, interval: Any) -> dict[str, Any]:
    """The admin's add/change form for a workflow schedule, as a browser posts it."""
    return {"name": name, "regtask": "thaiyyal.scheduled_run", "task": "",
            "enabled": "on", "description": "", "interval": interval.pk, "crontab": "",
            "solar": "", "clocked": "", "args": "[]",
            "kwargs": kwargs if isinstance(kwargs, str) else json.dumps(kwargs),
            "queue": "", "exchange": "", "routing_key": "", "headers": "{}", "priority": "",
            "expires": "", "expire_seconds": "", "one_off": "", "start_time": "",
            "last_run_at": ""}


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"workflow": 999999}, "workflow 999999: no such workflow"),
    ({"workflow": "{id}", "inputs": {"nope": 1}}, "$.inputs.nope"),
    ({"workflow": "{id}", "input": {}}, "unknown key(s) input"),
    ([1, 2], "must be a JSON object"),
])
def test_the_admin_refuses_a_schedule_whose_turns_would_fail(
        admin_client: Any, greeting: Any, kwargs: Any, says: str) -> None:
    from django_celery_beat.models import IntervalSchedule

    every = IntervalSchedule.objects.create(every=60, period="seconds")
    if isinstance(kwargs, dict) and kwargs.get("workflow") == "{id}":
        kwargs = {**kwargs, "workflow": greeting.pk}

    response = admin_client.post("/admin/django_celery_beat/periodictask/add/",
                                 admin_form("bad", kwargs, every))

    assert response.status_code == 200  # the form again, with the error
    assert says in " ".join(response.context["adminform"].form.errors.get("kwargs", []))
    assert not PeriodicTask.objects.filter(name="bad").exists()


def test_the_admin_saves_and_edits_a_good_schedule(admin_client: Any, greeting: Any) -> None:
    from django_celery_beat.models import IntervalSchedule

    every = IntervalSchedule.objects.create(every=60, period="seconds")
    good = {"workflow": greeting.pk, "inputs": {"name": "admin"}}
    response = admin_client.post("/admin/django_celery_beat/periodictask/add/",
                                 admin_form("good", good, every))
    assert response.status_code == 302, response.context["adminform"].form.errors
    task = PeriodicTask.objects.get(name="good")
    assert json.loads(task.kwargs) == good

    response = admin_client.post(f"/admin/django_celery_beat/periodictask/{task.pk}/change/",
                                 admin_form("good", {**good, "inputs": {"times": "x"}}, every))
    assert response.status_code == 200  # refused: times is a number
    assert "$.inputs.times" in " ".join(response.context["adminform"].form.errors["kwargs"])
    assert json.loads(PeriodicTask.objects.get(pk=task.pk).kwargs) == good
