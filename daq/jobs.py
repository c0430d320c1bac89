"""Job submission and progress: the logic the CLI and the REST API both wrap."""

from __future__ import annotations

from daq.spec import JobSpec
from db.catalog import Catalog
from db.records import JobInfo, Progress


def submit_job(catalog: Catalog, spec: JobSpec, created_by: str | None = None) -> JobInfo:
    """Store a validated job; its samples are generated as rigs claim them."""
    rigs = None if spec.rigs == "any" else list(spec.rigs)
    return catalog.create_job(
        spec.name or "job",
        spec.model_dump(mode="json"),
        spec.takes,
        spec.seed,
        priority=spec.priority,
        rigs=rigs,
        created_by=created_by,
    )


def describe(progress: Progress) -> str:
    """One line a person reads: ``120/200 captured, 2 failed, 48.1 takes/s, ETA 2s``."""
    eta = "" if progress.eta_s is None else f", ETA {progress.eta_s:.0f} s"
    return (
        f"{progress.captured}/{progress.total} captured, {progress.failed} failed, "
        f"{progress.rate_per_s:.1f} takes/s{eta} [{progress.state}]"
    )
