import numpy as np
import pytest
import torch

from ddpm_lib.data import load_dataset
from ddpm_lib.linear import (LinearDiffusion, LinearNoisePredictor, PCACodec, encode_prompt, interaction_features,
                             least_squares, one_hot)
from ddpm_lib.sample import sample_ddim
from ddpm_lib.schedule import NoiseSchedule


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("mnist-5k", "train")
    idx = torch.arange(0, 4000, 8)  # 500 images, 50 per digit
    return ds.images[idx], ds.labels[idx]


def test_prompt_encoder():
    c = encode_prompt(["3", "0"])
    assert c.shape == (2, 10) and c[0, 3] == 1 and c[1, 0] == 1 and c.sum() == 2
    assert encode_prompt("9").shape == (1, 10)
    with pytest.raises(ValueError, match="'0'..'9'"):
        encode_prompt(["seven"])
    with pytest.raises(ValueError, match="'0'..'9'"):
        encode_prompt("10")
    assert one_hot(torch.tensor([10, 2]), 2)[0].sum() == 0  # the null label is all zeros


def test_interaction_features_layout():
    z = torch.tensor([[1.0, 2.0]])
    c = encode_prompt("1")
    f = interaction_features(z, c)
    assert f.shape == (1, 2 + 10 + 20)
    assert f[0, :2].tolist() == [1, 2] and f[0, 2:12].tolist() == c[0].tolist()
    inter = f[0, 12:].reshape(10, 2)
    assert inter[1].tolist() == [1, 2] and inter.abs().sum() == 3  # only prompt 1's block is non-zero
    with pytest.raises(ValueError, match="one prompt per latent"):
        interaction_features(torch.zeros(2, 3), encode_prompt("1"))


def test_pca_codec_matches_sklearn(digits):
    sk = pytest.importorskip("sklearn.decomposition")
    images, _ = digits
    x = images.flatten(1).double().numpy()
    codec = PCACodec(16).fit(images)
    ref = sk.PCA(n_components=16, svd_solver="full").fit(x)
    assert codec.components is not None and codec.explained_variance_ratio is not None
    comps = codec.components.numpy()
    signs = np.sign((comps * ref.components_).sum(1))
    np.testing.assert_allclose(comps * signs[:, None], ref.components_, atol=1e-6)
    np.testing.assert_allclose(codec.explained_variance_ratio.numpy(), ref.explained_variance_ratio_, atol=1e-8)
    recon = codec.decode(codec.encode(images)).flatten(1).double().numpy()
    np.testing.assert_allclose(recon, ref.inverse_transform(ref.transform(x)), atol=1e-4)
    assert codec.encode(images).std().item() == pytest.approx(1.0, rel=1e-6)


def test_least_squares_matches_sklearn_linear_regression(digits):
    lm = pytest.importorskip("sklearn.linear_model")
    images, labels = digits
    codec = PCACodec(8).fit(images)
    g = torch.Generator().manual_seed(0)
    z = codec.encode(images)
    eps = torch.randn(z.shape, generator=g, dtype=torch.float64)
    feats = interaction_features(z + eps, one_hot(labels, len(labels)))
    w = least_squares(feats, eps)
    ours = feats @ w[:-1] + w[-1]
    ref = lm.LinearRegression().fit(feats.numpy(), eps.numpy()).predict(feats.numpy())
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)


def test_ridge_shrinks_weights_but_not_intercept():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 3, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64) + 5
    w0, w1 = least_squares(x, y), least_squares(x, y, ridge=1e3)
    assert w1[:-1].norm() < w0[:-1].norm()
    torch.testing.assert_close(w0.flatten(), torch.tensor([1.0, 2.0, 3.0, 5.0], dtype=torch.float64))


def test_one_shot_pipeline_shapes_and_determinism(digits):
    images, labels = digits
    ld = LinearDiffusion(12).fit(images, labels, generator=torch.Generator().manual_seed(0))
    a = ld.generate("7", 4, torch.Generator().manual_seed(1))
    b = ld.generate("7", 4, torch.Generator().manual_seed(1))
    assert a.shape == (4, 1, 32, 32) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, ld.generate("3", 4, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="'0'..'9'"):
        ld.generate("x")
    with pytest.raises(RuntimeError, match="not fitted"):
        PCACodec(3).encode(images)


def test_one_shot_denoising_recovers_class_mean_under_heavy_noise(digits):
    """With noise much larger than the data, the least-squares denoiser returns the prompt's mean latent."""
    images, labels = digits
    codec = PCACodec(6).fit(images)
    z = codec.encode(images)
    g = torch.Generator().manual_seed(0)
    scale = 30.0
    zz, cc = z.repeat(20, 1), one_hot(labels, len(labels)).repeat(20, 1)
    eps = torch.randn(zz.shape, generator=g, dtype=torch.float64) * scale
    w = least_squares(interaction_features(zz + eps, cc), eps)
    noise = torch.randn(200, 6, generator=g, dtype=torch.float64) * scale
    c3 = encode_prompt(["3"] * 200)
    out = noise - (interaction_features(noise, c3) @ w[:-1] + w[-1])
    torch.testing.assert_close(out.mean(0), z[labels == 3].mean(0), atol=0.3, rtol=0)


def test_multistep_linear_model_runs_through_the_ddim_sampler(digits):
    images, labels = digits
    s = NoiseSchedule(1000)
    codec = PCACodec(10).fit(images)
    model = LinearNoisePredictor(s, num_levels=10).fit(codec.encode(images), labels,
                                                        generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 7])
    z = sample_ddim(model, s, (3, 10), steps=10, labels=y, guidance_scale=2.0, clip_denoised=False,
                    generator=torch.Generator().manual_seed(0))
    assert z.shape == (3, 10)
    x = codec.decode(z)
    assert x.shape == (3, 1, 32, 32)
    # each sample lands nearer its own digit's mean latent than the other digits' means
    zs = codec.encode(images)
    means = torch.stack([zs[labels == d].mean(0) for d in range(10)])
    assert torch.cdist(z.double(), means).argmin(1).tolist() == y.tolist()
    with pytest.raises(ValueError, match="num_levels"):
        LinearNoisePredictor(s, num_levels=0)
