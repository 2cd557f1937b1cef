import json

import pytest
import torch
from safetensors.torch import save_file

from ddpm_lib.autoencoder import (Autoencoder, AutoencoderConfig, AutoencoderTraining, Posterior, autoencoder_loss,
                                  encode_mean, latent_scale_factor, load_autoencoder, save_autoencoder, train_autoencoder)
from ddpm_lib.checkpoint import CheckpointError
from ddpm_lib.data import load_dataset
from ddpm_lib.latent import LatentCodec, reconstruction_error
from ddpm_lib.paths import WEIGHTS_DIR
from ddpm_lib.runtime import seeded

SHIPPED = WEIGHTS_DIR / "autoencoder.safetensors"
HELD_OUT_MSE = 0.012  # the shipped autoencoder's stated bound on held-out digits (README, notebook 09)


def reconstruct(autoencoder, images):
    """D(mu(x)) clamped to [-1, 1]: the round trip the codec does (its scale factor cancels out)."""
    codec = LatentCodec(autoencoder, 1.0)
    return codec.decode(codec.encode(images))


def small(widths=(8, 8), **kw):
    with seeded(0):
        return Autoencoder(AutoencoderConfig(widths=widths, norm_groups=4, **kw))


def test_shapes_round_trip_32_to_4x8x8_and_back():
    ae = small()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    post = ae.encode(x)
    assert post.mean.shape == post.logvar.shape == (3, 4, 8, 8) == (3, *ae.latent_shape)
    assert ae.decode(post.mean).shape == (3, 1, 32, 32)
    assert Autoencoder(AutoencoderConfig(widths=(8, 8, 8), norm_groups=4)).latent_shape == (4, 4, 4)
    assert AutoencoderConfig().latent_shape == (4, 8, 8)  # 1,024 numbers -> 256


def test_kl_matches_torch_distributions_and_sample_is_reparameterised():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    post = Posterior(mean, logvar)
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    torch.testing.assert_close(post.kl(), torch.distributions.kl_divergence(q, p), rtol=1e-5, atol=1e-6)
    n = torch.randn(mean.shape, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(post.sample(torch.Generator().manual_seed(5)), mean + (0.5 * logvar).exp() * n)
    assert float(Posterior(torch.zeros(1, 4), torch.zeros(1, 4)).kl().abs().max()) == 0.0  # q = prior


def test_loss_is_mse_plus_weighted_kl():
    ae = small()
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    loss, parts = autoencoder_loss(ae, x, kl_weight=0.5, generator=torch.Generator().manual_seed(1))
    recon, post = ae(x, torch.Generator().manual_seed(1))
    mse, kl = (recon - x).square().mean(), post.kl().mean()
    torch.testing.assert_close(loss, mse + 0.5 * kl)
    assert parts == pytest.approx({"mse": float(mse.detach()), "kl": float(kl.detach())})


def test_scale_factor_makes_latents_unit_spread_and_refuses_a_dead_encoder():
    z = torch.randn(500, 4, 8, 8) * 3.0
    f = latent_scale_factor(z)
    assert f == pytest.approx(1 / 3.0, rel=0.02) and float((z * f).std()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="untrained or broken"):
        latent_scale_factor(torch.zeros(10, 4, 8, 8))


def test_short_training_lowers_the_held_out_error_and_is_repeatable():
    train_ds, test_ds = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")
    before = float((reconstruct(small(), test_ds.images[:200]) - test_ds.images[:200]).square().mean())
    recipe = AutoencoderTraining(steps=60, batch_size=32, lr=3e-3, precision="fp32")
    a = train_autoencoder(small(), train_ds.images, recipe, progress=False)
    b = train_autoencoder(small(), train_ds.images, recipe, progress=False)
    after = float((reconstruct(a.autoencoder, test_ds.images[:200]) - test_ds.images[:200]).square().mean())
    assert after < 0.5 * before, (before, after)
    assert [h[1] for h in a.history] == [h[1] for h in b.history]  # the seed fixes batches and noise
    assert not a.autoencoder.training and a.images_per_second > 0


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped autoencoder is made by `make pretrained-latent`")
def test_shipped_autoencoder_reconstructs_held_out_digits_below_the_stated_error():
    ae, scale, info = load_autoencoder(SHIPPED)
    test_ds = load_dataset("mnist-5k", "test")
    mse = float((reconstruct(ae, test_ds.images) - test_ds.images).square().mean())
    assert mse < HELD_OUT_MSE, mse
    assert info["held_out_mse"] == pytest.approx(mse, abs=1e-4)  # what the file says is what it does
    assert reconstruction_error(LatentCodec(ae, scale), test_ds.images) == pytest.approx(mse, rel=1e-6)  # f cancels
    assert float((encode_mean(ae, load_dataset("mnist-5k", "train").images) * scale).std()) == pytest.approx(1.0, abs=1e-3)


def test_save_load_round_trip_keeps_weights_scale_and_info(tmp_path):
    ae = small()
    path = save_autoencoder(ae, tmp_path / "ae.safetensors", 1.25, note="x")
    back, scale, info = load_autoencoder(path)
    assert scale == 1.25 and info == {"note": "x"} and back.config == ae.config and not back.training
    for (k, a), b in zip(ae.state_dict().items(), back.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*tmp"))


def test_bad_inputs_name_the_field_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match="field 'widths'"):
        AutoencoderConfig(widths=())
    with pytest.raises(ValueError, match="norm_groups=8 GroupNorm groups, but 12"):
        AutoencoderConfig(widths=(12, 16))
    with pytest.raises(ValueError, match="does not halve 3 times evenly"):
        AutoencoderConfig(image_size=28, widths=(8, 8, 8))
    with pytest.raises(ValueError, match=r"encodes images of shape \(B, 1, 32, 32\), got \(2, 3, 32, 32\)"):
        small().encode(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"decodes latents of shape \(B, 4, 8, 8\), got \(2, 4, 4, 4\)"):
        small().decode(torch.zeros(2, 4, 4, 4))
    with pytest.raises(ValueError, match="larger than the 10 training images"):
        train_autoencoder(small(), torch.zeros(10, 1, 32, 32), AutoencoderTraining(batch_size=32), progress=False)
    with pytest.raises(CheckpointError, match="train-autoencoder --out"):
        load_autoencoder(tmp_path / "missing.safetensors")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(1)}, str(foreign), metadata={"format": "something.else"})
    with pytest.raises(CheckpointError, match="not an autoencoder checkpoint"):
        load_autoencoder(foreign)
    broken = tmp_path / "broken.safetensors"
    save_file({"w": torch.zeros(1)}, str(broken), metadata={"format": "ddpm_lib.autoencoder.v1",
                                                            "config": json.dumps({"widths": [8], "bogus": 1})})
    with pytest.raises(CheckpointError, match="unreadable autoencoder metadata"):
        load_autoencoder(broken)
