"""Network shapes and head behaviour."""

from __future__ import annotations

import pytest
import torch

from firmware_protocol.tone import INIT_TONE
from models.nets import BODIES, build_model
from models.targets import TargetSpec

SPEC = TargetSpec.thesis()
N_OUTPUTS = len(SPEC.continuous_index) + sum(SPEC.switch_ways)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_each_baseline_maps_thesis_features_to_its_heads(name):
    torch.manual_seed(0)
    features = torch.rand(2, 690, 16) * 50
    with torch.no_grad():
        for head, width in (("mixed", N_OUTPUTS), ("mse", len(SPEC))):
            model = build_model(name, 690, 16, SPEC, head=head).eval()
            output = model(features)
            assert output.shape == (2, width)
            prediction = model.predict(output)
            assert prediction.shape == (2, len(SPEC))
            switches = prediction[:, list(SPEC.switch_index)]
            assert torch.equal(switches, switches.round())
            assert prediction.min() >= 0 and prediction.max() <= max(SPEC.switch_ways) - 1


@pytest.mark.parametrize("name", ["cnn3", "lcnn2", "lstm1"])
def test_baselines_accept_other_feature_shapes(name):
    model = build_model(name, 50, 128, SPEC).eval()  # e.g. a short auditory spectrogram
    with torch.no_grad():
        assert model(torch.rand(3, 50, 128)).shape == (3, N_OUTPUTS)


def test_heads_score_a_perfect_output_as_zero_loss_and_read_it_back():
    target = torch.tensor(SPEC.encode(INIT_TONE)).repeat(2, 1)
    mse = build_model("lstm1", 10, 4, SPEC, head="mse")
    perfect = target * torch.tensor(SPEC.scale)
    assert mse.loss(perfect, target).item() == 0.0
    assert torch.allclose(mse.predict(perfect), target)

    mixed = build_model("lstm1", 10, 4, SPEC, head="mixed")
    continuous = target[:, list(SPEC.continuous_index)].clamp(1e-6, 1 - 1e-6)
    logits = [
        20 * torch.nn.functional.one_hot(target[:, i].long(), ways).float()
        for i, ways in zip(SPEC.switch_index, SPEC.switch_ways, strict=True)
    ]
    perfect = torch.cat([torch.logit(continuous), *logits], dim=1)
    assert mixed.loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(mixed.predict(perfect), target, atol=1e-5)
    wrong = torch.cat([torch.logit(continuous), *(-x for x in logits)], dim=1)
    assert mixed.loss(wrong, target).item() > 10


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="lstm1"):
        build_model("resnet", 690, 16, SPEC)
    with pytest.raises(ValueError, match="mixed"):
        build_model("lstm1", 690, 16, SPEC, head="l1")
