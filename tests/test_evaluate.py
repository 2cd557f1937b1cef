import json
from pathlib import Path

import pytest
import torch

from ddpm_lib.data import load_dataset
from ddpm_lib.paths import JUDGE_PATH
from ddpm_lib.evaluate import evaluate_samples, format_table, reference_rows
from ddpm_lib.judge import JudgeNet, JudgeTraining, judge_features, load_judge, save_judge
from ddpm_lib.metrics import background_grain, balanced_subset, classification_accuracy_score, conditional_accuracy, frechet_distance, memorisation


@pytest.fixture(scope="module")
def judge():
    return load_judge()[0]


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")


def test_judge_shapes():
    net = JudgeNet().eval()
    x = torch.zeros(3, 1, 32, 32)
    assert net(x).shape == (3, 10) and net.features(x).shape == (3, 128)
    assert sum(p.numel() for p in net.parameters()) < 500_000  # under 2 MB as float32


def test_shipped_judge_accuracy_matches_its_record(judge, data):
    _, test = data
    info = json.loads(Path(JUDGE_PATH).with_suffix(".json").read_text())
    acc = conditional_accuracy(judge, test.images, test.labels)
    assert acc["num_samples"] == 1000
    assert acc["accuracy"] >= 0.97
    assert acc["accuracy"] == pytest.approx(info["test_accuracy"], abs=1e-9)
    assert set(acc["per_class"]) == set(range(10))
    assert JUDGE_PATH.stat().st_size < 2 * 2**20


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_noise(judge, data):
    _, test = data
    x = test.images[balanced_subset(test.labels, 300, torch.Generator().manual_seed(0))]
    assert frechet_distance(judge_features(judge, x), judge_features(judge, x)) == pytest.approx(0.0, abs=1e-6)
    g = torch.Generator().manual_seed(1)
    fds = [frechet_distance(judge_features(judge, (x + s * torch.randn(x.shape, generator=g)).clamp(-1, 1)), judge_features(judge, x))
           for s in (0.1, 0.4, 1.0)]
    assert 0 < fds[0] < fds[1] < fds[2]


def test_background_grain_by_hand_and_on_real_digits(data):
    # one white stroke pixel at (5, 5); a grey speck (u = 0.25) at (20, 20), far from it
    x = -torch.ones(1, 1, 32, 32)
    x[0, 0, 5, 5] = 1.0
    x[0, 0, 20, 20] = -0.5
    near = 7 * 7  # the stroke pixel's (2 * 3 + 1)^2 square lies inside the image
    assert background_grain(x) == pytest.approx(0.25 / (32 * 32 - near))
    x[0, 0, 7, 7] = -0.5  # a speck within 3 pixels of the stroke is not background
    assert background_grain(x) == pytest.approx(0.25 / (32 * 32 - near))
    _, test = data
    real = background_grain(test.images)
    assert real < 1e-3  # MNIST's background is black
    noisy = (test.images[:200] + 0.2 * torch.randn(200, 1, 32, 32, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert background_grain(noisy) > 20 * real + 0.02  # half the noise is clipped away; the other half shows
    assert background_grain(torch.ones(1, 1, 32, 32)) == 1.0  # no background left: the worst score
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        background_grain(torch.full((1, 1, 32, 32), 3.0))


def test_frechet_distance_formula_for_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 2, generator=g, dtype=torch.float64)
    b = torch.randn(20000, 2, generator=g, dtype=torch.float64) * 2 + torch.tensor([3.0, 0.0], dtype=torch.float64)
    # |mu|^2 + tr(I + 4I - 2 * 2I) = 9 + 2
    assert frechet_distance(a, b) == pytest.approx(11.0, rel=0.03)
    with pytest.raises(ValueError, match="feature sizes"):
        frechet_distance(a, b[:, :1])


def test_memorisation_flags_a_model_that_returns_training_images(data):
    train, test = data
    copier = train.images[:500]
    caught = memorisation(copier, train.images, test.images)
    assert caught["copied_fraction"] == 1.0 and caught["sample_nn_median"] == 0.0
    order = balanced_subset(test.labels, 1000, torch.Generator().manual_seed(0))  # both halves balanced
    honest = memorisation(test.images[order[:500]], train.images, test.images[order[500:]])
    assert honest["copied_fraction"] < 0.05 and 0.8 < honest["nn_ratio"] < 1.25


def test_reference_rows_floor_and_ceiling(judge, data):
    train, test = data
    floor, noise = reference_rows(judge, train.images, train.labels, test.images, 500, torch.Generator().manual_seed(0))
    assert floor.accuracy is not None and floor.frechet is not None and noise.frechet is not None
    assert floor.num_samples == 500 and floor.accuracy > 0.97
    assert floor.frechet < 5 < 100 < noise.frechet
    table = format_table([floor.row(), noise.row()])
    assert table.count("\n") == 3 and "real digits (floor)" in table


def test_balanced_subset_is_balanced(data):
    train, _ = data
    idx = balanced_subset(train.labels, 100, torch.Generator().manual_seed(0))
    assert torch.bincount(train.labels[idx]).tolist() == [10] * 10
    assert train.labels[idx[:10]].tolist() == list(range(10))
    with pytest.raises(ValueError, match="fewer"):
        balanced_subset(train.labels, 5000)


def test_cas_on_real_images_learns_something(data):
    train, test = data
    idx = balanced_subset(train.labels, 1000, torch.Generator().manual_seed(0))
    cas = classification_accuracy_score(train.images[idx], train.labels[idx], test.images, test.labels,
                                        JudgeTraining(epochs=4, batch_size=50, augment=False))
    assert 0.5 < cas <= 1.0


def test_evaluate_samples_report(judge, data):
    train, test = data
    order = balanced_subset(test.labels, 1000, torch.Generator().manual_seed(0))
    a, b = order[:200], order[200:]
    report = evaluate_samples(judge, test.images[a], test.labels[a], test.images[b], name="real",
                              train_images=train.images)
    row = report.row()
    assert row["n"] == 200 and row["accuracy"] > 0.95 and row["copied_fraction"] < 0.05
    # the reference's features, computed once by the caller, give exactly the same distance
    features = judge_features(judge, test.images[b])
    assert report.frechet == frechet_distance(judge_features(judge, test.images[a]), judge_features(judge, test.images[b]))
    again = evaluate_samples(judge, test.images[a], test.labels[a], test.images[b], reference_features=features)
    assert again.frechet == report.frechet and again.accuracy == report.accuracy
    floor, _ = reference_rows(judge, train.images, train.labels, test.images[b], 100, torch.Generator().manual_seed(0))
    same, _ = reference_rows(judge, train.images, train.labels, test.images[b], 100, torch.Generator().manual_seed(0),
                             features)
    assert same.frechet == floor.frechet
    with pytest.raises(ValueError, match=r"features of the 800 reference images, shape \(800, 128\); got \(200, 128\)"):
        evaluate_samples(judge, test.images[a], None, test.images[b], reference_features=features[:200])


@pytest.mark.parametrize("images, match", [
    (torch.zeros(2, 1, 28, 28), r"\(N, 1, 32, 32\)"),
    (torch.zeros(0, 1, 32, 32), "empty"),
    (torch.full((2, 1, 32, 32), 3.0), r"\[-1, 1\]"),
    (torch.full((2, 1, 32, 32), float("nan")), "NaN"),
])
def test_bad_input_is_refused_clearly(judge, images, match):
    with pytest.raises(ValueError, match=match):
        judge_features(judge, images)


def test_judge_save_load_round_trip(tmp_path, judge):
    path = save_judge(judge, tmp_path / "j.safetensors", test_accuracy=0.5)
    again, info = load_judge(path)
    x = torch.zeros(2, 1, 32, 32)
    torch.testing.assert_close(again(x), judge(x))
    assert info == {"test_accuracy": 0.5}
    with pytest.raises(FileNotFoundError, match="train-judge"):
        load_judge(tmp_path / "missing.safetensors")


def test_format_table_drops_empty_columns():
    table = format_table([{"name": "a", "x": None, "y": 1.23456}, {"name": "b", "x": None, "y": None}])
    assert table.splitlines()[0] == "| name | y |" and "1.235" in table and "| b | - |" in table


def test_shipped_judge_reads_digits_through_faint_noise(judge, data):
    """Samples often keep faint background grain; the judge must score the digit, not the grain."""
    _, test = data
    g = torch.Generator().manual_seed(0)
    noisy = (test.images + 0.15 * torch.randn(test.images.shape, generator=g)).clamp(-1, 1)
    assert conditional_accuracy(judge, noisy, test.labels)["accuracy"] >= 0.97


def test_pixel_noise_augmentation():
    from ddpm_lib.judge import add_pixel_noise

    x = torch.zeros(1000, 1, 4, 4)
    y = add_pixel_noise(x, torch.Generator().manual_seed(0), max_std=0.3)
    untouched = (y == 0).flatten(1).all(1).float().mean().item()
    assert 0.4 < untouched < 0.6  # about half of the batch is left clean
    assert y.abs().max() <= 1.0 and y.std() < 0.3
