"""A stand-in rig worker, run as a separate process by the reliability tests.

    python catalog_worker.py claim URL RIG         claim and record until the queue is empty
    python catalog_worker.py write URL STORE RIG   the same, writing real FLAC files first
    python catalog_worker.py hold URL RIG          claim one sample and hang (to be killed)

It prints ``ready`` once connected so the parent can time a SIGKILL into the work itself.
"""

from __future__ import annotations

import hashlib
import sys
import time

import numpy as np

from db.engine import open_catalog
from db.records import AudioRef, NewTake
from db.schema import QcVerdict, utcnow
from db.store import AudioStore, key_for
from firmware_protocol.tone import INIT_TONE

#: Short for ``hold`` and ``write`` (the tests wait for it to run out), long for ``claim``.
LEASE_S = {"hold": 2.0, "write": 2.0, "claim": 120.0}


def main(mode: str, url: str, *args: str) -> None:
    catalog = open_catalog(url, upgrade=False)
    store = AudioStore(args[0]) if mode == "write" else None
    rig = args[-1]
    catalog.upsert_rig(rig, "emulated")
    print("ready", flush=True)
    if mode == "hold":
        claim = catalog.claim_next(rig, LEASE_S[mode])
        print(f"claimed {claim.index}", flush=True)
        time.sleep(3600)
    recorded = 0
    while (claim := catalog.claim_next(rig, LEASE_S[mode])) is not None:
        if store is not None:
            audio = np.sin(np.arange(2205) * (0.01 + claim.index * 1e-4)) * 0.5
            ref = store.write(audio, 22050)
        else:
            sha = hashlib.sha256(f"{claim.job_id}/{claim.index}".encode()).hexdigest()
            ref = AudioRef(key_for(sha), sha, 22050, 1, 2205)
        tone = INIT_TONE.replace(vcf_freq=claim.index % 128)
        catalog.record_take(NewTake(claim, tone.data, ref, QcVerdict.PASS, utcnow(), rig))
        recorded += 1
    print(f"recorded {recorded}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
