import pytest
import torch

from ddpm_lib.autoencoder import Autoencoder, AutoencoderConfig, encode_mean
from ddpm_lib.checkpoint import CheckpointError, load_model, save_model
from ddpm_lib.config import TrainConfig, get_preset
from ddpm_lib.data import ImageDataset
from ddpm_lib.latent import (LatentCodec, autoencoder_file, codec_for_checkpoint, latent_dataset, latent_recipe,
                             load_codec, save_codec)
from ddpm_lib.runtime import resolve_precision, seeded
from ddpm_lib.generation import generate
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.train import train
from ddpm_lib.unet import SimpleUNet


def codec(scale=2.0):
    with seeded(0):
        return LatentCodec(Autoencoder(AutoencoderConfig(widths=(8, 8), norm_groups=4)), scale)


def digits(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(torch.rand(n, 1, 32, 32, generator=g) * 2 - 1, torch.arange(n) % 10, tuple("0123456789"), "r")


def test_codec_scales_encoder_means_and_unscales_before_decoding():
    c = codec(scale=2.0)
    x = digits(6).images
    z = c.encode(x)
    torch.testing.assert_close(z, 2.0 * encode_mean(c.autoencoder, x))
    with torch.no_grad():
        expected = c.autoencoder.decode(z / 2.0).clamp(-1, 1)
    torch.testing.assert_close(c.decode(z), expected)
    assert c.latent_shape == (4, 8, 8) and c.image_channels == 1
    with pytest.raises(ValueError, match="scale_factor must be positive"):
        LatentCodec(c.autoencoder, 0.0)


def test_codec_decodes_in_its_precision_and_returns_float32():
    c = codec(scale=2.0)
    z = c.encode(digits(6).images)
    fast = LatentCodec(c.autoencoder, 2.0, batch_size=4, precision="bf16")
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        expected = c.autoencoder.decode(z / 2.0).clamp(-1, 1)
    got = fast.decode(z)
    assert got.dtype == torch.float32 and fast.precision == "bf16"
    torch.testing.assert_close(got, expected)  # the same bf16 arithmetic, batches of 4 and 2
    assert 0 < float((got - c.decode(z)).abs().max()) < 0.05  # bf16 differs from fp32, a little
    quick = c.fast()
    assert quick.autoencoder is c.autoencoder and quick.scale_factor == 2.0 and quick.batch_size == 125
    assert quick.precision == resolve_precision("auto", torch.device("cpu"))


def test_latent_dataset_keeps_labels_and_holds_latents():
    data = digits()
    lat = latent_dataset(codec(), data)
    assert lat.images.shape == (48, 4, 8, 8) and torch.equal(lat.labels, data.labels) and lat.classes == data.classes
    assert lat.name == "r latents"


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu"])
def test_every_preset_has_a_latent_recipe_that_fits_its_latents(name):
    recipe = latent_recipe(name)
    side = recipe.autoencoder.latent_side
    assert recipe.model.in_channels == recipe.autoencoder.latent_channels == 4 and side == 8
    assert side % 2 ** (len(recipe.model.channel_mults) - 1) == 0  # the UNet halves the latent evenly
    assert recipe.preset.model == recipe.model and recipe.model.num_classes == get_preset(name).model.num_classes
    model = SimpleUNet.from_config(recipe.model)
    x = torch.randn(2, *recipe.autoencoder.latent_shape)
    assert model(x, torch.tensor([0, 999 % recipe.preset.num_timesteps]), torch.tensor([1, 2])).shape == x.shape


def test_latent_training_resumes_exactly(tmp_path):
    lat = latent_dataset(codec(), digits())
    config = TrainConfig(steps=6, batch_size=16, lr=1e-3, warmup_steps=2, checkpoint_every=3, precision="fp32")
    recipe = latent_recipe("smoke")

    def fresh(seed=0):
        with seeded(seed):
            return SimpleUNet.from_config(recipe.model)

    s = NoiseSchedule(100, "cosine")
    full = train(fresh(), s, lat, config, progress=False)
    train(fresh(), s, lat, TrainConfig(**{**config.__dict__, "steps": 3}), checkpoint_dir=tmp_path, progress=False,
          info={"autoencoder": "ae.safetensors"})
    resumed = train(fresh(seed=1), s, lat, config, checkpoint_dir=tmp_path, resume=True, progress=False,
                    info={"autoencoder": "ae.safetensors"})
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    for a, b in zip(full.ema.model.state_dict().values(), resumed.ema.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [h[1] for h in resumed.history] == [h[1] for h in full.history]
    assert load_model(tmp_path / "model.safetensors")[2]["autoencoder"] == "ae.safetensors"


class Spy:
    """A decoder that records the latents it is given and returns a fixed image per latent."""

    latent_shape: tuple[int, ...] = (4, 8, 8)
    image_channels = 1

    def __init__(self):
        self.seen = []

    def decode(self, z):
        self.seen.append(z)
        return torch.full((len(z), 1, 32, 32), 0.25)


class Big(torch.nn.Module):
    """Predicts eps = -3 x: x0_hat far outside [-1, 1], which pixel samplers would clamp."""

    num_classes, null_label, in_channels = 10, 10, 4

    def forward(self, x, t, labels=None):
        return -3.0 * x


def test_generate_samples_unclamped_latents_then_decodes_them():
    spy = Spy()
    out = generate(Big(), NoiseSchedule(100, "cosine"), torch.arange(5), sampler="ddim", steps=4, batch_size=3,
                   generator=torch.Generator().manual_seed(0), decoder=spy)
    assert out.shape == (5, 1, 32, 32) and torch.equal(out, torch.full_like(out, 0.25))
    assert [tuple(z.shape) for z in spy.seen] == [(3, 4, 8, 8), (2, 4, 8, 8)]
    assert max(float(z.abs().max()) for z in spy.seen) > 1.0  # latents are not clamped to the pixel range


def test_checkpoint_finds_its_autoencoder_beside_it_or_says_what_is_missing(tmp_path):
    c = codec()
    save_codec(c, tmp_path / "ae.safetensors")
    unet = SimpleUNet.from_config(latent_recipe("smoke").model)
    ckpt = save_model(unet, tmp_path / "latent.safetensors", NoiseSchedule(100, "cosine"),
                      autoencoder="somewhere/else/ae.safetensors")
    info = load_model(ckpt)[2]
    assert autoencoder_file(ckpt, info) == tmp_path / "ae.safetensors"  # found beside the checkpoint
    back = codec_for_checkpoint(ckpt, info)
    assert back is not None and back.scale_factor == c.scale_factor
    assert codec_for_checkpoint(ckpt, {}) is None  # a pixel model
    assert load_codec(tmp_path / "ae.safetensors")[0].latent_shape == (4, 8, 8)
    (tmp_path / "ae.safetensors").unlink()
    with pytest.raises(CheckpointError, match="its autoencoder ae.safetensors is not at .*make pretrained-latent") as err:
        autoencoder_file(ckpt, info)
    looked = str(err.value).split(" is not at ")[1].split(";")[0]
    places = looked.removeprefix("any of ").split(", ")
    assert len(places) == len(set(places)) and str(tmp_path / "ae.safetensors") in places  # each place named once


def test_bench_compares_the_pixel_and_latent_unets_of_a_preset():
    from ddpm_lib.bench import latent_speed

    out = latent_speed(get_preset("smoke"), torch.device("cpu"), seconds=0.01, batch=4)
    assert out["pixel"]["input"] == [1, 32, 32] and out["latent"]["input"] == [4, 8, 8]
    # the speedups are ratios of the unrounded rates, rounded to 2 decimals; the rates shown are rounded to 0.1
    for key, what in (("train_speedup", "train_img_s"), ("sample_speedup", "sample_img_s")):
        ratio = out["latent"][what] / out["pixel"][what]
        assert out[key] == pytest.approx(ratio, rel=0.01, abs=0.005 + 0.05 * (1 + ratio) / out["pixel"][what])
    assert out["latent"]["sample_img_s"] < out["decode_img_s"]  # the decode is part of the latent model's sampling time
    assert out["latent"]["forward_mflop"] < out["pixel"]["forward_mflop"]


def test_latent_pair_resumes_an_interrupted_run_exactly_with_the_autoencoder_it_wrote(tmp_path, monkeypatch):
    import ddpm_lib.course as course

    recipe, data = latent_recipe("smoke"), digits(64)  # smoke: a checkpoint every 10 steps
    full = course.train_latent_pair(recipe, data, tmp_path / "full", steps=12, progress=False)
    assert full.result.steps_done == 12 and recipe.training(12).warmup_steps == 3  # the preset's 25% warm-up

    real_train = course.train  # type: ignore[attr-defined]

    def interrupted(*args, **kwargs):
        def stop(step, loss):
            if step == 10:  # after the checkpoint at step 10, before the next one
                raise KeyboardInterrupt
        return real_train(*args, callback=stop, **kwargs)

    monkeypatch.setattr(course, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        course.train_latent_pair(recipe, data, tmp_path / "cut", steps=12, progress=False)
    monkeypatch.setattr(course, "train", real_train)
    autoencoder = tmp_path / "cut" / course.AUTOENCODER_FILE
    written = autoencoder.read_bytes()
    resumed = course.train_latent_pair(recipe, data, tmp_path / "cut", steps=12, resume=True, progress=False)
    assert autoencoder.read_bytes() == written  # loaded, not trained again
    assert resumed.codec.scale_factor == full.codec.scale_factor
    for (k, a), b in zip(full.result.ema.model.state_dict().items(), resumed.result.ema.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    model, _, info = load_model(tmp_path / "cut" / "model.safetensors")
    assert info["autoencoder"] == str(autoencoder) and info["steps"] == 12
    codec = codec_for_checkpoint(tmp_path / "cut" / "model.safetensors", info)
    assert codec is not None and codec.scale_factor == full.codec.scale_factor


def test_latent_recipe_training_scales_the_warm_up_and_checks_the_count():
    recipe = latent_recipe("cpu")
    assert recipe.steps == 2000 and recipe.training().steps == 2000
    assert recipe.training().warmup_steps == round(2000 * 100 / 1150)  # the pixel preset's share, 8.7%
    assert recipe.training(300).steps == 300 and recipe.training(300).lr == get_preset("cpu").train.lr
    assert latent_recipe("smoke").steps == get_preset("smoke").train.steps
    with pytest.raises(ValueError, match="steps"):
        recipe.training(0)


def test_decoded_trajectory_shows_every_latent_through_the_decoder_in_order():
    from ddpm_lib.viz import Trajectory, decoded

    class Half:
        """Decodes a latent (4, 8, 8) to the image holding its channel-0 mean, scaled by step and sample."""

        latent_shape: tuple[int, ...] = (4, 8, 8)

        def decode(self, z):
            return z[:, :1].mean((2, 3), keepdim=True).expand(-1, 1, 32, 32) / 2

    steps, batch = 3, 2
    marks = torch.arange(steps * batch, dtype=torch.float32).reshape(steps, batch, 1, 1, 1)
    traj = Trajectory(torch.tensor([99, 50, 0]), marks.expand(steps, batch, 4, 8, 8).clone(),
                      -marks.expand(steps, batch, 4, 8, 8).clone(), torch.full((batch, 4, 8, 8), 7.0))
    images = decoded(traj, Half())
    assert images.xt.shape == images.x0.shape == (steps, batch, 1, 32, 32) and images.sample.shape == (batch, 1, 32, 32)
    torch.testing.assert_close(images.xt[..., 0, 0], marks[..., 0, 0] / 2)  # step s, sample b stays at [s, b]
    torch.testing.assert_close(images.x0[..., 0, 0], -marks[..., 0, 0] / 2)
    assert torch.equal(images.timesteps, traj.timesteps) and bool((images.sample == 3.5).all())


def test_a_latent_resume_is_refused_before_training_when_there_is_nothing_latent_to_resume(tmp_path):
    from ddpm_lib.course import check_latent_resume

    with pytest.raises(CheckpointError, match="nothing to resume in .*: neither autoencoder.safetensors nor train_state.pt"):
        check_latent_resume(tmp_path)
    (tmp_path / "train_state.pt").write_bytes(b"a pixel run's state")
    with pytest.raises(CheckpointError, match=r"no autoencoder beside it .* resume it with --pixel, or drop --resume"):
        check_latent_resume(tmp_path)
    (tmp_path / "train_state.pt").unlink()
    (tmp_path / "autoencoder.safetensors").write_bytes(b"")
    assert check_latent_resume(tmp_path) is False  # the autoencoder stage finished, the UNet had not checkpointed yet
