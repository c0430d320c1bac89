"""Walk catalog and store together: missing files, corrupt files, orphans, debris.

The walk goes one hash bucket at a time (the takes whose sha256 starts with ``ab`` against
the directory ``ab/``), so memory stays bounded by one bucket whatever the catalog's size.

Repair never deletes audio. Orphans (files no intact take points at: a writer died between
the file and its row) and debris (``.tmp`` leftovers of interrupted writes) are moved to
``quarantine/``; a take whose file is missing or corrupt is marked broken and its sample goes
back to the queue, so the take is captured again. Files younger than ``grace_s`` are left
alone: a live writer may be about to commit their rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from db.catalog import Catalog
from db.store import BUCKETS, AudioStore


@dataclass
class VerifyReport:
    takes_checked: int = 0
    files_seen: int = 0
    #: (take id, audio key) of takes whose file is absent.
    missing: list[tuple[int, str]] = field(default_factory=list)
    #: (take id, audio key) of takes whose file does not hash to its name.
    corrupt: list[tuple[int, str]] = field(default_factory=list)
    #: Complete files that no intact take refers to.
    orphans: list[str] = field(default_factory=list)
    #: Other entries in the store's buckets: interrupted writes, foreign files.
    debris: list[str] = field(default_factory=list)
    #: What ``repair`` did.
    quarantined: list[str] = field(default_factory=list)
    broken_takes: list[int] = field(default_factory=list)
    #: Orphans and debris younger than the grace period, left for a live writer.
    left_alone: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.corrupt or self.orphans or self.debris)

    @property
    def catalog_ok(self) -> bool:
        """Every intact take has its valid file (orphans and debris are harmless)."""
        return not (self.missing or self.corrupt)


def verify(
    catalog: Catalog,
    store: AudioStore,
    *,
    repair: bool = False,
    grace_s: float = 600.0,
    on_bucket: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Check every intact take against the store and the store against the catalog."""
    report = VerifyReport()
    newest_allowed = time.time() - grace_s
    for index, bucket in enumerate(BUCKETS):
        upper = BUCKETS[index + 1] if index + 1 < len(BUCKETS) else "g"
        _verify_bucket(catalog, store, bucket, upper, newest_allowed, report, repair)
        if on_bucket is not None:
            on_bucket(bucket)
    return report


def _verify_bucket(
    catalog: Catalog,
    store: AudioStore,
    bucket: str,
    upper: str,
    newest_allowed: float,
    report: VerifyReport,
    repair: bool,
) -> None:
    files, debris = store.bucket_entries(bucket)
    report.files_seen += len(files)
    takes = catalog.takes_by_sha_range(bucket, upper)
    report.takes_checked += len(takes)
    present = set(files)
    hashes: dict[str, str | None] = {}
    bad_keys: set[str] = set()
    for take_id, key, sha256 in takes:
        if key not in present:
            report.missing.append((take_id, key))
            problem = "audio file missing"
        else:
            if key not in hashes:
                hashes[key] = store.hash_file(key)
            if hashes[key] == sha256:
                continue
            report.corrupt.append((take_id, key))
            bad_keys.add(key)
            problem = f"audio file corrupt (hashes to {hashes[key]})"
        if repair and catalog.mark_take_broken(take_id, problem):
            report.broken_takes.append(take_id)
    referenced = {key for _, key, _ in takes}
    orphans = [key for key in files if key not in referenced and key not in bad_keys]
    report.orphans.extend(orphans)
    report.debris.extend(debris)
    if not repair:
        return
    for key in sorted(bad_keys):
        report.quarantined.append(store.quarantine(key))
    candidates = []
    for name in orphans + debris:
        old = store.modified_before(name, newest_allowed)
        (candidates if old else report.left_alone).append(name)
    if candidates:
        # a writer may have committed a row for one of these since the bucket was read
        referenced_now = {key for _, key, _ in catalog.takes_by_sha_range(bucket, upper)}
        for name in candidates:
            if name not in referenced_now:
                report.quarantined.append(store.quarantine(name))
