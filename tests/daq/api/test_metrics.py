"""Prometheus metrics: takes, the queue, rigs and request latencies."""

from __future__ import annotations

from api_support import JOBS, RIG, UNIFORM, record_takes

from db.schema import RigStatus, Role


def test_metrics_report_takes_queue_rigs_and_request_latencies(api):
    record_takes(api, [{}, {}, {}])
    api.as_(Role.OPERATOR, "POST", JOBS, json={**UNIFORM, "count": 7})
    api.catalog.heartbeat(RIG, RigStatus.CAPTURING)
    api.as_(Role.OPERATOR, "GET", JOBS)
    api.client.get("/dashboard/login")
    api.client.get("/dashboard/jobs/1", follow_redirects=False)  # no session: to the login
    text = api.as_(Role.TRAINER, "GET", "/metrics").text
    lines = set(text.splitlines())
    assert "jxdaq_catalog_up 1.0" in lines
    assert "jxdaq_takes_captured_total 3.0" in lines
    assert "jxdaq_queue_depth 7.0" in lines
    assert 'jxdaq_jobs{state="completed"} 1.0' in lines
    assert 'jxdaq_jobs{state="queued"} 1.0' in lines
    assert f'jxdaq_rig_status{{rig="{RIG}",status="capturing"}} 1.0' in lines
    assert f'jxdaq_rig_status{{rig="{RIG}",status="idle"}} 0.0' in lines
    assert any(line.startswith("jxdaq_takes_per_second ") for line in lines)
    requests = 'jxdaq_http_request_duration_seconds_count{method="GET",route="/api/v1/jobs",'
    assert any(line.startswith(requests) and 'status="200"' in line for line in lines), text
    routes = {line.split('route="')[1].split('"')[0] for line in lines if 'route="' in line}
    assert {"/dashboard/login", "/dashboard/jobs/{job_id}"} <= routes  # mounted: full path
    assert not {"/login", "/jobs/{job_id}"} & routes
