"""The methods of the bench: the thesis setup and every method are what the README says."""

from __future__ import annotations

from models.bench import THESIS_NOTE, thesis_job
from models.methods import METHODS, RECOMMENDED


def test_the_thesis_setup_and_every_method_are_what_the_readme_says():
    job = thesis_job(10, 0)
    assert job.capture.hold_s == 4.0 and [n.key for n in job.capture.notes] == [THESIS_NOTE]
    assert len(job.vary) == 26
    assert {"cnn1", "cnn2", "cnn3", "lstm1", "lstm2", "lstm3", "lcnn1", "lcnn2"} < set(METHODS)
    assert {"trees", RECOMMENDED} < set(METHODS)
