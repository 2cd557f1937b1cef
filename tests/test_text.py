from typing import Any

import pytest
import torch

from ddpm_lib.config import TrainConfig
from ddpm_lib.data import ImageDataset
from ddpm_lib.sample import guided_eps, sample_ddim
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.text import (DIGIT_WORDS, PromptEncoder, PromptTokenizer, TextConditionedUNet, build_text_model,
                           prompt_dataset, random_prompts)
from ddpm_lib.train import diffusion_loss, train
from ddpm_lib.unet import SimpleUNet

SMALL: dict[str, Any] = dict(base_channels=8, channel_mults=(1, 2, 2, 2), norm_groups=4, attention_heads=2)


def test_tokenizer_round_trip_and_padding():
    tok = PromptTokenizer()
    ids = tok.encode(["a handwritten seven", "7", "Seven!"])
    assert ids.shape == (3, tok.max_len) and ids.dtype == torch.long
    assert tok.decode(ids) == ["a handwritten seven", "7", "seven"]
    assert (ids[1, 1:] == 0).all()  # padding
    assert tok.encode("a purple seven")[0, 1].item() == 1  # unknown word
    with pytest.raises(ValueError, match="at most"):
        tok.encode("one two three four five six seven")


def test_random_prompts_name_the_right_digit():
    labels = torch.arange(10).repeat(5)
    prompts = random_prompts(labels, torch.Generator().manual_seed(0))
    for y, p in zip(labels.tolist(), prompts):
        assert str(y) in p.split() or DIGIT_WORDS[y] in p.split()
    assert len(set(prompts)) > 20


def test_prompt_encoder_shapes_and_empty_prompt():
    tok = PromptTokenizer()
    enc = PromptEncoder(tok.vocab_size, dim=16, max_len=tok.max_len, heads=2).eval()
    out = enc(tok.encode(["seven", ""]))
    assert out.shape == (2, tok.max_len, 16) and torch.isfinite(out).all()


def test_text_model_follows_prompt_ids_and_null_prompt():
    torch.manual_seed(0)
    model = build_text_model(SMALL, context_dim=16).eval()
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([10, 500])
    a = model(x, t, model.prompt_ids(["seven", "seven"]))
    b = model(x, t, model.prompt_ids(["two", "two"]))
    assert a.shape == x.shape and not torch.allclose(a, b)
    torch.testing.assert_close(model(x, t), model(x, t, torch.zeros(2, 6, dtype=torch.long)))
    eps = guided_eps(model, x, t, model.prompt_ids(["seven", "two"]), guidance_scale=3.0)
    assert eps.shape == x.shape
    with pytest.raises(ValueError, match="context_dim"):
        TextConditionedUNet(SimpleUNet(**SMALL), PromptTokenizer(), PromptEncoder(10, 16))


def test_prompt_tokens_drop_row_by_row():
    model = build_text_model(SMALL, context_dim=16)
    seen = {}
    real_forward = model.forward

    def spy(x, t, labels=None):
        seen["labels"] = labels
        return real_forward(x, t, labels)

    model.forward = spy  # type: ignore[method-assign]
    ids = model.prompt_ids(["seven"] * 200)
    diffusion_loss(model, NoiseSchedule(), torch.zeros(200, 1, 32, 32), labels=ids, p_uncond=0.5,
                   generator=torch.Generator().manual_seed(0))
    rows_dropped = (seen["labels"] == 0).all(1)
    assert 0.35 < rows_dropped.float().mean() < 0.65
    assert ((seen["labels"] == ids).all(1) | rows_dropped).all()  # a row is kept whole or dropped whole


def test_text_model_trains_and_samples():
    g = torch.Generator().manual_seed(0)
    base = ImageDataset(torch.rand(32, 1, 32, 32, generator=g) * 2 - 1, torch.arange(32) % 10,
                        tuple("0123456789"), "random")
    torch.manual_seed(0)
    model = build_text_model(SMALL, context_dim=16)
    data = prompt_dataset(base, model.tokenizer, copies=2, generator=g)
    assert data.images.shape[0] == 64 and data.labels.shape == (64, model.tokenizer.max_len)
    result = train(model, NoiseSchedule(), data, TrainConfig(steps=3, batch_size=16, warmup_steps=1,
                                                             precision="fp32"), progress=False)
    assert len(result.history) == 3
    x = sample_ddim(result.ema.model, NoiseSchedule(), (2, 1, 32, 32), steps=3,
                    labels=model.prompt_ids(["a seven", "two"]), guidance_scale=2.0,
                    generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 32, 32)


def test_text_model_from_class_model_starts_as_its_unconditional_model():
    from ddpm_lib.text import text_model_from

    torch.manual_seed(0)
    base = SimpleUNet(**SMALL, num_classes=10).eval()
    model = text_model_from(base, context_dim=16).eval()
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([5, 700])
    torch.testing.assert_close(model(x, t, model.prompt_ids(["seven", "a two"])), base(x, t), atol=1e-5, rtol=0)


def test_text_model_from_is_seeded_and_leaves_the_global_random_state_alone():
    from ddpm_lib.text import text_model_from

    base = SimpleUNet(**SMALL, num_classes=10)
    state = torch.random.get_rng_state()
    a, b, c = (text_model_from(base, context_dim=16, seed=s).state_dict() for s in (0, 0, 1))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)


def test_text_model_checkpoints_save_load_and_resume(tmp_path):
    from ddpm_lib.checkpoint import load_model, read_metadata

    g = torch.Generator().manual_seed(0)
    base = ImageDataset(torch.rand(16, 1, 32, 32, generator=g) * 2 - 1, torch.arange(16) % 10,
                        tuple("0123456789"), "random")
    model = build_text_model(SMALL, context_dim=16)
    data = prompt_dataset(base, model.tokenizer, copies=1, generator=g)
    config = TrainConfig(steps=2, batch_size=8, warmup_steps=1, precision="fp32", checkpoint_every=1)
    result = train(model, NoiseSchedule(100), data, config, checkpoint_dir=tmp_path, progress=False)
    assert read_metadata(tmp_path / "model.safetensors")["format"] == "ddpm_lib.text_unet.v1"
    loaded, schedule, info = load_model(tmp_path / "model.safetensors")
    assert isinstance(loaded, TextConditionedUNet) and schedule is not None and schedule.num_timesteps == 100 and info["steps"] == 2
    assert loaded.config == model.config and loaded.tokenizer.vocab == model.tokenizer.vocab
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([3, 70])
    ids = loaded.prompt_ids(["a seven", "2"])
    torch.testing.assert_close(loaded(x, t, ids), result.ema.model(x, t, ids), rtol=1e-5, atol=1e-5)
    resumed = train(build_text_model(SMALL, context_dim=16), NoiseSchedule(100), data,
                    TrainConfig(steps=3, batch_size=8, warmup_steps=1, precision="fp32", checkpoint_every=1),
                    checkpoint_dir=tmp_path, resume=True, progress=False)
    assert resumed.steps_done == 3
