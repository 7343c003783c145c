"""On PostgreSQL, a short run outside any transaction is written as ONE statement (run and
node runs in a data-modifying CTE): atomic and durable, one round trip."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.api.conftest import ADD
from workflows import services
from workflows.models import NodeRun, Run, RunStatus, new_run_id
from workflows.recording import _node_run_fields, insert_in_one_statement

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL-only statement"),
]


def test_short_run_and_its_node_runs_are_one_statement(admin_user):
    with CaptureQueriesContext(connection) as capture:
        execution = services.execute_payload(ADD, user=admin_user)

    writes = [q["sql"] for q in capture.captured_queries
              if "INSERT" in q["sql"].upper() or q["sql"].upper().startswith("BEGIN")]
    assert len(writes) == 1
    assert writes[0].startswith('WITH run AS (INSERT INTO "workflows_run"')
    run = Run.objects.get(pk=execution.run_id)
    assert run.status == "succeeded"
    assert run.final_output == execution.result.final_output
    assert sorted(NodeRun.objects.filter(run=run).values_list("node_id", flat=True)) == sorted(
        n.id for n in execution.result.nodes)


def test_node_rows_name_every_node_run_column():
    # insert_in_one_statement sends rows as they are: their keys must be the columns
    row = services.node_rows(services.load_payload(ADD).execute(), 1000)[0]
    assert set(row) == {f.column for f in _node_run_fields()}


def test_the_statement_is_atomic_a_bad_node_run_leaves_no_run(admin_user):
    run = Run(id=new_run_id(), status=RunStatus.SUCCEEDED, limits={}, node_count=1,
              started_at=timezone.now(), requested_by=admin_user, worker_host="test",
              worker_pid=1)
    bad = {"node_id": "x" * 10_000, "node_type": "number", "status": "succeeded",
           "started_offset_ms": 0, "duration_ms": 0, "attempts": 1, "output": None,
           "output_truncated": False, "error": ""}
    with pytest.raises(DatabaseError, match="too long"):  # node_id is varchar(200)
        insert_in_one_statement(connection, run, [bad])
    assert not Run.objects.filter(pk=run.pk).exists()


NUL_TEXT = {"nodes": [{"id": "t", "type": "text_input", "data": {"text": "a\x00b"}}]}
SLOW_NUL = {"nodes": [{"id": "t", "type": "text_input", "data": {"text": "a\x00b"}},
                      {"id": "wait", "type": "delay", "data": {"duration": "120ms"}}],
            "edges": [{"source": "t", "target": "wait"}]}


@pytest.mark.parametrize("payload", [NUL_TEXT, SLOW_NUL], ids=["one-statement", "running-row"])
def test_nul_in_run_data_is_recorded_as_replacement_character(admin_user, settings, payload):
    # PostgreSQL's jsonb and text refuse NUL; data from payloads or HTTP may hold it.
    settings.THAIYYAL_RUNNING_ROW_AFTER_MS = 30
    execution = services.execute_payload(payload, user=admin_user)

    assert execution.result.node_results["t"] == "a\x00b"  # the caller gets the real value
    run = Run.objects.get(pk=execution.run_id)
    assert run.status == "succeeded"
    assert "a\ufffdb" in json.dumps(run.final_output, ensure_ascii=False)
    outputs = dict(NodeRun.objects.filter(run=run).values_list("node_id", "output"))
    assert outputs["t"] == "a\ufffdb"
