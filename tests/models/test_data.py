"""Datasets from a real captured catalog: the right takes, splits, targets and cached features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from daq.features import THESIS_STFT, StftFeatures
from db.engine import open_catalog
from db.records import NotFound, TakeFilter
from db.store import AudioStore
from firmware_protocol.parameters import THESIS_SUBSET, lookup
from models.data import CatalogSource, FrozenDataset
from models.targets import TargetSpec


@pytest.fixture
def source(captured_dataset):
    catalog = open_catalog(captured_dataset.catalog_url)
    yield CatalogSource(catalog, AudioStore(captured_dataset.store_root), "tiny")
    catalog.close()


class CountingSource:
    """The catalog source, counting the audio it reads (to see the cache spare it)."""

    def __init__(self, inner: CatalogSource) -> None:
        self.inner = inner
        self.dataset = inner.dataset
        self.split_names = inner.split_names
        self.reads = 0

    def records(self):
        return self.inner.records()

    def audio(self, record):
        self.reads += 1
        return self.inner.audio(record)


def test_splits_partition_the_frozen_takes_with_targets_from_their_tones(source, tmp_path):
    data = FrozenDataset.open(source, THESIS_STFT, tmp_path)
    catalog = source.catalog
    frozen = catalog.get_dataset("tiny")
    take_ids = [r.take_id for r in data.records]
    assert len(take_ids) == catalog.count_takes(frozen.filter) > 100
    assert take_ids == sorted(take_ids)

    seen: set[int] = set()
    for name in ("train", "validation", "test"):
        split = data.split(name)
        ids = {r.take_id for r in split.records}
        assert ids and not ids & seen  # disjoint
        seen |= ids
        assert all(frozen.split_of(i) == name for i in ids)
        assert split.spec.names == THESIS_SUBSET and split.targets.shape == (len(split), 26)
        for record, target in zip(split.records[:10], split.targets[:10], strict=True):
            raw = catalog.get_take(record.take_id).tone  # the stored bytes, read afresh
            for parameter_name, value in zip(THESIS_SUBSET, target, strict=True):
                parameter = lookup(parameter_name)
                byte = raw[parameter.apr_index]
                if parameter.is_switch:
                    assert value == parameter.position(byte), parameter_name
                else:
                    assert value == pytest.approx(byte / 127), parameter_name
    assert seen == set(take_ids)
    assert data.split_sizes() == {n: len(data.split(n)) for n in ("train", "validation", "test")}


def test_features_start_at_the_note_on_and_batches_match_single_reads(source, tmp_path):
    data = FrozenDataset.open(source, THESIS_STFT, tmp_path)
    split = data.split("validation", TargetSpec.of(["VCF FREQ", "DCO1 WF"]))
    record = split.records[3]
    audio, rate = source.store.read(record.audio_key)
    pre_roll = round(0.1 * rate)  # TINY_JOB keeps the default capture.pre_roll_s
    assert record.note_on_frame == pre_roll
    expected = THESIS_STFT.compute(audio[pre_roll:, 0])
    features, target = split[3]
    assert features.shape == (690, 16) and features.dtype == torch.float32
    np.testing.assert_allclose(features.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert target.tolist() == pytest.approx(split.spec.encode(record.tone).tolist())

    picks = [5, 0, 7, 7, 2]
    batch = split.__getitems__(picks)
    for (x, y), i in zip(batch, picks, strict=True):
        torch.testing.assert_close(x, split[i][0])
        torch.testing.assert_close(y, split[i][1])
    loader = DataLoader(
        split, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    seen = 0
    for x, y in loader:
        assert x.shape[1:] == (690, 16) and y.shape[1] == 2
        seen += len(x)
    assert seen == len(split)


def test_the_cache_is_built_once_per_dataset_and_config_and_splits_are_stable(source, tmp_path):
    counting = CountingSource(source)
    first = FrozenDataset.open(counting, THESIS_STFT, tmp_path)
    assert counting.reads == len(first.records)
    again = FrozenDataset.open(counting, THESIS_STFT, tmp_path)
    assert counting.reads == len(first.records)  # reused: no audio read
    assert again.features.path == first.features.path
    for name in ("train", "validation", "test"):
        assert [r.take_id for r in again.split(name).records] == [
            r.take_id for r in first.split(name).records
        ]
    small = StftFeatures(bins=8)
    other = FrozenDataset.open(counting, small, tmp_path)
    assert counting.reads == 2 * len(first.records)  # another config, another entry
    assert other.features.path != first.features.path and other.features.shape[-1] == 8


def capture_small_job(catalog, store, count: int, seed: int) -> int:
    from daq.jobs import submit_job
    from daq.rigs import EMULATED
    from daq.spec import JobSpec
    from daq.worker import Worker

    spec = {"source": {"kind": "uniform"}, "vary": ["VCF FREQ"], "count": count, "seed": seed,
            "capture": {"hold_s": 0.5, "tail": {"max_s": 0.1}}}  # fmt: skip
    job = submit_job(catalog, JobSpec.model_validate(spec))
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    return job.id


def test_takes_recorded_after_freezing_never_join(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog, store = open_catalog(url), AudioStore(tmp_path / "audio")
    capture_small_job(catalog, store, count=6, seed=1)
    catalog.freeze_dataset("before", TakeFilter(), {"train": 1.0})
    first = catalog.count_takes()
    second_job = capture_small_job(catalog, store, count=6, seed=2)
    catalog.freeze_dataset("after", TakeFilter(), {"train": 1.0})
    added = catalog.count_takes(TakeFilter(job_id=second_job))
    config = StftFeatures(duration_s=0.5)
    before = FrozenDataset.open(CatalogSource(catalog, store, "before"), config, tmp_path / "f")
    after = FrozenDataset.open(CatalogSource(catalog, store, "after"), config, tmp_path / "f")
    assert first >= 4 and added >= 4
    assert len(before.records) == first and len(after.records) == first + added
    assert before.features.path != after.features.path  # each dataset its own cache entry
    catalog.close()


def test_refusals_name_what_is_wrong(source, tmp_path):
    data = FrozenDataset.open(source, THESIS_STFT, tmp_path)
    with pytest.raises(ValueError, match=r"split 'holdout' of dataset 'tiny' does not exist; "
                       r"it has: train \(\d+ takes\)"):  # fmt: skip
        data.split("holdout")
    with pytest.raises(NotFound, match="dataset 'nope' does not exist"):
        CatalogSource(source.catalog, source.store, "nope")
    with pytest.raises(ValueError, match=r"take \d+ is at 44100 Hz but the stft features want"):
        FrozenDataset.open(source, StftFeatures(sample_rate=48000), tmp_path)
