"""`jxdaq dataset` over HTTP: freeze, show, list and pull a tar; errors in one line."""

from __future__ import annotations

import tarfile
from pathlib import Path

from client_support import fill, jxdaq

from daq.export import iter_selection, plan_tar, tar_stream
from db.schema import QcVerdict


# -- datasets --------------------------------------------------------------------------------
def test_dataset_freeze_show_list_and_pull_a_tar_over_http(server, tmp_path):
    job = fill(server.catalog, server.store, 30)
    out = jxdaq(
        "dataset", "freeze", "d1", "--job", job, "--qc", "pass", "--split", "0.8,0.1,0.1",
        "--seed", 2,
    )  # fmt: skip
    dataset = server.catalog.get_dataset("d1")
    passed = [t for t in iter_selection(server.catalog, dataset)]
    assert all(t.qc_verdict == QcVerdict.PASS for t in passed) and 15 < len(passed) < 30
    assert f"dataset 'd1': {len(passed)} takes; train 0.8 (" in out
    assert dataset.splits == {"train": 0.8, "validation": 0.1, "test": 0.1} and dataset.seed == 2
    assert "dataset 'd1'" in jxdaq("dataset", "list") and "takes; train" in jxdaq(
        "dataset", "show", "d1"
    )

    pulled = Path(
        jxdaq("dataset", "pull", "d1", "--out", tmp_path / "out").split(" to ")[-1].strip()
    )
    plan = plan_tar(server.catalog, server.store, dataset)
    expected = b"".join(tar_stream(server.catalog, server.store, plan))
    assert pulled == tmp_path / "out" / "d1-all.tar" and pulled.read_bytes() == expected
    with tarfile.open(pulled) as archive:
        assert len([n for n in archive.getnames() if n.endswith(".flac")]) == len(passed)
    assert "already" not in jxdaq("dataset", "pull", "d1", "--out", tmp_path / "out")


def test_dataset_errors_are_one_line(server, tmp_path):
    assert "404 dataset 'nope' does not exist" in jxdaq("dataset", "show", "nope", code=1)
    assert "fractions must be >= 0 and sum to 1" in jxdaq(
        "dataset", "freeze", "x", "--split", "0.5,0.4", code=1
    )
    assert "write KEY=LOW..HIGH" in jxdaq("dataset", "freeze", "x", "--param", "vcf", code=1)
    out = jxdaq("dataset", "freeze", "x", "--param", "vcf_fre=1..2", code=1)
    assert "422 body.filter.parameters.vcf_fre" in out
    fill(server.catalog, server.store, 3)
    jxdaq("dataset", "freeze", "x")
    assert "409 dataset 'x' already exists" in jxdaq("dataset", "freeze", "x", code=1)
    out = jxdaq("dataset", "pull", "x", "--out", tmp_path, "--format", "npz", code=1)
    assert "sampled at 8000 Hz" in out and "Traceback" not in out
    assert "--format 'zip'" in jxdaq(
        "dataset", "pull", "x", "--out", tmp_path, "--format", "zip", code=1
    )
