"""Status polls share one job report per job for a short while (daq.api.job_reports)."""

from __future__ import annotations

from daq.api.job_reports import JobReports


def test_reports_are_shared_until_they_expire_or_are_forgotten(api):
    catalog = api.catalog
    job = catalog.create_job("shared", {}, 5, seed=0)
    catalog.upsert_rig("rig-a", "emulator")
    reports = JobReports(catalog, ttl_s=3600)
    first = reports.get(job.id)
    assert catalog.claim_next("rig-a", 60) is not None
    assert reports.get(job.id) is first  # within the TTL: no catalog read
    reports.forget(job.id)
    fresh = reports.get(job.id)
    assert (first.progress.claimed, fresh.progress.claimed) == (0, 1)
    expiring = JobReports(catalog, ttl_s=0)
    assert expiring.get(job.id) is not expiring.get(job.id)
