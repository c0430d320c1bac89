"""Network shapes and head behaviour."""

from __future__ import annotations

import pytest
import torch

from firmware_protocol.tone import INIT_TONE
from models.nets import BODIES, LocallyConnected2d, build_model
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


@pytest.mark.parametrize(
    ("name", "kernels", "filters", "dense"),
    [
        ("cnn1", [(3, 10), (2, 2)], [32, 64], [128]),
        ("cnn2", [(3, 10), (3, 10), (2, 2)], [32, 64, 64], [128]),
        ("cnn3", [(3, 10), (3, 10), (2, 2)], [32, 64, 64], [512, 128]),
        ("lstm1", [], [], [64]),
        ("lstm3", [], [], [128, 64]),
    ],
)
def test_thesis_layouts_follow_its_tables(name, kernels, filters, dense):
    model = build_model(name, 690, 16, SPEC, head="mse")
    convs = [m for m in model.body.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == kernels
    assert [c.out_channels for c in convs] == filters
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [layer.out_features for layer in linears] == [*dense, len(SPEC)]  # fc 26 = head
    units = {"lstm1": 64, "lstm3": 256}
    lstms = [m for m in model.body.modules() if isinstance(m, torch.nn.LSTM)]
    assert [m.hidden_size for m in lstms] == ([units[name]] if name in units else [])


def test_a_locally_connected_layer_shares_no_weights():
    layer = LocallyConnected2d(1, 64, (3, 10), (16, 690))
    assert layer.out_size == (5, 69)
    x = torch.zeros(1, 1, 16, 690, requires_grad=True)
    layer(x)[0, :, 0, 0].sum().backward()  # one output position only
    touched = (layer.weight.grad.abs().sum(dim=(1, 2)) > 0).nonzero().flatten().tolist()
    assert touched == [] or touched == [0]  # its own kernel at most, never another's
    assert (
        torch.count_nonzero(x.grad[0, 0, 3:, :]) == 0
        and torch.count_nonzero(x.grad[0, 0, :, 10:]) == 0
    )  # it sees its own 3 x 10 patch only
    lcnn1 = build_model("lcnn1", 690, 16, SPEC, head="mse")
    (local,) = [m for m in lcnn1.modules() if isinstance(m, LocallyConnected2d)]
    assert local.weight.shape == (5 * 69, 30, 64)


def test_expected_positions_are_the_softmax_mean_and_predictions_its_argmax():
    model = build_model("lstm1", 10, 4, SPEC, head="mixed")
    output = torch.zeros(1, N_OUTPUTS)  # every switch position equally likely
    expected, predicted = model.expected(output)[0], model.predict(output)[0]
    for i, ways in zip(SPEC.switch_index, SPEC.switch_ways, strict=True):
        assert expected[i].item() == pytest.approx((ways - 1) / 2)
        assert predicted[i].item() == 0
    mse = build_model("lstm1", 10, 4, SPEC, head="mse")
    half = torch.full((1, len(SPEC)), 0.5)
    assert torch.allclose(mse.expected(half)[0], torch.tensor(0.5 / SPEC.scale))
