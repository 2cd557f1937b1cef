"""Bad input, as a careless user gives it: every case is refused with a message that names the file, field
or value, what was expected, and (where there is one) the fix. Nothing here runs a long job first."""

import json
from pathlib import Path
import math
import re
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from ddpm_lib.__main__ import main
from ddpm_lib.checkpoint import CheckpointError, load_model, save_model, save_training_state
from ddpm_lib.config import ModelConfig, TrainConfig, get_preset
from ddpm_lib.data import ImageDataset, load_dataset
from ddpm_lib.evaluate import evaluate_checkpoint
from ddpm_lib.judge import check_images, load_judge
from ddpm_lib.metrics import frechet_distance
from ddpm_lib.generation import generate
from ddpm_lib.schedule import ddim_timesteps, descending_pairs
from ddpm_lib.sample import (sample_ddim, sample_ddpm, sample_dpm_solver, sample_inpaint)
from ddpm_lib.schedule import NoiseSchedule, extract
from ddpm_lib.train import train
from ddpm_lib.unet import SimpleUNet

SMALL: dict[str, Any] = dict(base_channels=8, channel_mults=(1, 2), num_classes=10, norm_groups=4, attention_heads=2)


class Counting:
    """A noise predictor that counts its calls: validation must happen before the first one."""

    null_label = 10
    num_classes = 10
    in_channels = 1

    def __init__(self):
        self.calls = 0

    def __call__(self, x, t, labels=None):
        self.calls += 1
        return torch.zeros_like(x)


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule(100)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "m.safetensors"
    return save_model(SimpleUNet(**SMALL), path, NoiseSchedule(100, "cosine"))


def _rewrite_metadata(src, dst, **changes):
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    meta.update(changes)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


# -- library calls: (id, call, exception type, message pattern) -------------------------------------
def _library_cases():
    s = NoiseSchedule(100)
    x = torch.zeros(2, 1, 32, 32)
    unet = SimpleUNet(**SMALL)
    m = Counting()
    cases = [
        ("schedule-kind", lambda: NoiseSchedule(100, "quadratic"),  # type: ignore[arg-type]
         ValueError, "valid kinds are linear, cosine"),
        ("schedule-T", lambda: NoiseSchedule(1), ValueError, "num_timesteps must be an integer >= 2, got 1"),
        ("q-sample-float-t", lambda: s.q_sample(x, torch.tensor([0.5, 1.0]), x), TypeError,
         "integer time indices"),
        ("q-sample-t-too-big", lambda: s.q_sample(x, torch.tensor([0, 100]), x), ValueError,
         r"must lie in 0\.\.99 .*max 100"),
        ("q-sample-minus-one", lambda: s.q_sample(x, torch.tensor([-1, 3]), x), ValueError,
         "t = -1, 'no noise', is only defined"),
        ("q-sample-t-shape", lambda: s.q_sample(x, torch.tensor([1, 2, 3]), x), ValueError,
         r"t must have shape \(2,\)"),
        ("config-base-abc", lambda: ModelConfig(base_channels="abc"), ValueError,  # type: ignore[arg-type]
         "field 'base_channels' must be a whole number >= 4, got 'abc'"),
        ("config-mults-zero", lambda: ModelConfig(channel_mults=(1, 0)), ValueError,
         "field 'channel_mults' must be a whole number >= 1, got 0"),
        ("config-in-channels", lambda: ModelConfig(in_channels=0), ValueError,
         "field 'in_channels' must be a whole number >= 1, got 0"),
        ("config-one-level", lambda: ModelConfig(channel_mults=(1,)), ValueError, "at least two whole numbers"),
        ("config-groups", lambda: ModelConfig(base_channels=12), ValueError,
         "12 does not; pick base_channels as a multiple of 8"),
        ("config-dropout", lambda: ModelConfig(dropout=1.5), ValueError,
         r"field 'dropout' must be a finite number in \[0, 1\), got 1.5"),
        ("config-classes", lambda: ModelConfig(num_classes=0), ValueError, "field 'num_classes' must be a whole number"),
        ("config-odd-base", lambda: ModelConfig(base_channels=9, norm_groups=1), ValueError, "must be even"),
        ("config-heads", lambda: ModelConfig(attention_heads=3), ValueError, "must divide into attention_heads=3"),
        ("config-unknown-key", lambda: ModelConfig.from_dict({"widths": 3}), ValueError, r"unknown model config keys \['widths'\]"),
        ("config-not-a-dict", lambda: ModelConfig.from_dict("abc"), ValueError, "must be a JSON object"),
        ("train-steps-0", lambda: TrainConfig(steps=0), ValueError, "field 'steps' must be a whole number >= 1, got 0"),
        ("train-steps-neg", lambda: TrainConfig(steps=-5), ValueError, "got -5"),
        ("train-batch-0", lambda: TrainConfig(batch_size=0), ValueError, "field 'batch_size' must be a whole number >= 1"),
        ("train-lr-0", lambda: TrainConfig(lr=0.0), ValueError, r"field 'lr' must be a finite number in \(0, 10\]"),
        ("train-lr-nan", lambda: TrainConfig(lr=math.nan), ValueError, "field 'lr' must be a finite number"),
        ("train-ema-1", lambda: TrainConfig(ema_decay=1.0), ValueError, r"field 'ema_decay' .*\[0, 1\)"),
        ("train-p-uncond", lambda: TrainConfig(p_uncond=1.5), ValueError, "field 'p_uncond'"),
        ("train-precision", lambda: TrainConfig(precision="int8"), ValueError,  # type: ignore[arg-type]
         "field 'precision' must be one of auto, fp32, bf16, fp16, got 'int8'"),
        ("train-every-0", lambda: TrainConfig(checkpoint_every=0), ValueError, "field 'checkpoint_every'"),
        ("train-seed-65bit", lambda: TrainConfig(seed=2**64), ValueError, "field 'seed' must be a whole number from 0"),
        ("preset-name", lambda: get_preset("laptop"), ValueError, "valid presets are smoke, cpu, gpu"),
        ("preset-override", lambda: get_preset("cpu", train_stepz=5), ValueError, r"unknown override\(s\) \['train_stepz'\]"),
        ("unet-mults-zero", lambda: SimpleUNet(channel_mults=(1, 0)), ValueError, "'channel_mults' must be a whole number"),
        ("unet-in-channels", lambda: SimpleUNet(in_channels=0), ValueError, "'in_channels' must be a whole number >= 1"),
        ("unet-float-labels", lambda: unet(x, torch.tensor([1, 2]), torch.tensor([1.0, 2.0])), ValueError,
         "labels must be integer class ids"),
        ("unet-label-range", lambda: unet(x, torch.tensor([1, 2]), torch.tensor([3, 12])), ValueError,
         r"class ids in 0\.\.9 .*from 3 to 12"),
        ("unet-channels", lambda: unet(torch.zeros(2, 3, 32, 32), torch.tensor([1, 2])), ValueError,
         r"expected x of shape \(B, 1, H, W\)"),
        ("unet-size", lambda: unet(torch.zeros(2, 1, 31, 31), torch.tensor([1, 2])), ValueError, "divisible by 2"),
        ("ddim-eta-5", lambda: sample_ddim(m, s, (1, 1, 4, 4), eta=5.0), ValueError, r"eta must be a finite number in \[0, 1\] \(0: deterministic DDIM.*got 5.0"),
        ("ddim-eta-nan", lambda: sample_ddim(m, s, (1, 1, 4, 4), eta=math.nan), ValueError, "eta must be a finite number in .*got nan"),
        ("dpm-steps-0", lambda: generate(m, s, None, num_samples=1, image_shape=(1, 4, 4), sampler="dpm++", steps=0),
         ValueError, r"steps must be a whole number from 1 to 100 \(the schedule's T is the most\), got 0"),
        ("dpm-levels", lambda: sample_dpm_solver(m, s, (1, 1, 4, 4), timesteps=[5, -1]), ValueError,
         r"timesteps must be levels from 0 to 99 \(the schedule's T - 1\), got \[5, -1\]"),
        ("guidance-nan", lambda: sample_ddim(m, s, (1, 1, 4, 4), labels=torch.tensor([1]), guidance_scale=math.nan),
         ValueError, "guidance scale must be a finite number"),
        ("guidance-inf", lambda: sample_ddpm(m, s, (1, 1, 4, 4), labels=torch.tensor([1]), guidance_scale=math.inf),
         ValueError, "guidance scale must be a finite number"),
        ("sampler-float-labels", lambda: sample_ddim(m, s, (2, 1, 4, 4), labels=torch.tensor([1.0, 2.0])), ValueError,
         r"use torch.tensor\(\[3, 7\]\)"),
        ("sampler-label-range", lambda: sample_ddim(m, s, (2, 1, 4, 4), labels=torch.tensor([1, 11])), ValueError,
         r"class ids in 0\.\.9 for this model, got values from 1 to 11"),
        ("generate-count", lambda: generate(m, s, torch.arange(3), num_samples=5), ValueError,
         "num_samples=5 but 3 labels were given"),
        ("generate-sampler", lambda: generate(m, s, torch.arange(3), sampler="rk4"), ValueError,  # type: ignore[arg-type]
         "valid samplers are ddpm, ddim"),
        ("generate-flow-sampler-on-ddpm", lambda: generate(m, s, torch.arange(3), sampler="euler"), ValueError,
         "integrates a flow-matching model's velocity, but this model is a DDPM"),
        ("generate-none", lambda: generate(m, s, None, num_samples=0), ValueError, r"num_samples must be a whole number >= 1 \(nothing to generate: give labels"),
        ("ddim-steps-0", lambda: ddim_timesteps(1000, 0), ValueError, "steps must be a whole number from 1 to 1000 .*got 0"),
        ("inpaint-resample", lambda: sample_inpaint(m, s, x[:1], torch.ones(1, 1, 32, 32), resample=0), ValueError,
         "resample must be a whole number >= 1"),
        ("x_T-shape", lambda: sample_ddim(m, s, (2, 1, 4, 4), x_T=torch.zeros(1, 1, 4, 4)), ValueError,
         r"x_T must have shape \(2, 1, 4, 4\)"),
        ("ddpm-variance", lambda: sample_ddpm(m, s, (1, 1, 4, 4), variance="learned"), ValueError, "beta, posterior"),  # type: ignore[arg-type]
        ("pairs-ascending", lambda: descending_pairs([1, 5]), ValueError, "strictly descending"),
        ("dataset-name", lambda: load_dataset("imagenet"), ValueError, "valid names are mnist-5k, mnist"),
        ("dataset-split", lambda: load_dataset("mnist-5k", "val"), ValueError, "valid splits are train, test"),
        ("images-range", lambda: check_images(torch.full((2, 1, 32, 32), 255.0)), ValueError,
         r"must lie in \[-1, 1\] .*map \[0, 1\] pixels with 2 x - 1"),
        ("frechet-one", lambda: frechet_distance(torch.zeros(1, 4), torch.zeros(5, 4)), ValueError, "N >= 2"),
        ("evaluate-one-sample", lambda: evaluate_checkpoint("whatever.safetensors", num_samples=1), ValueError,
         "--num-samples must be a whole number >= 2"),
    ]
    return cases, m


LIBRARY_CASES, _COUNTER = _library_cases()


@pytest.mark.parametrize("call,error,pattern", [c[1:] for c in LIBRARY_CASES], ids=[c[0] for c in LIBRARY_CASES])
def test_library_refuses_bad_input(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
    assert _COUNTER.calls == 0  # refused before the model was ever called


# -- training --------------------------------------------------------------------------------------
def _digits(n=8, channels=1):
    return ImageDataset(torch.zeros(n, channels, 32, 32), torch.arange(n) % 10, tuple("0123456789"), "tiny")


TRAIN_CASES = [
    ("unconditional-model", dict(model=dict(num_classes=None), conditional=True), ValueError,
     "conditional training needs a model built with num_classes"),
    ("batch-too-big", dict(config=dict(batch_size=64)), ValueError, "batch_size 64 is larger than the dataset"),
    ("channels", dict(data=dict(channels=3)), ValueError, r"has 3 channel\(s\) but the model expects 1"),
    ("resume-no-dir", dict(resume=True), ValueError, "resume=True needs checkpoint_dir"),
]


@pytest.mark.parametrize("kw,error,pattern", [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_train_refuses_bad_setups(kw, error, pattern):
    model = SimpleUNet(**{**SMALL, **kw.get("model", {})})
    config = TrainConfig(**{"steps": 2, "batch_size": 4, **kw.get("config", {})})
    with pytest.raises(error, match=pattern):
        train(model, NoiseSchedule(100), _digits(**kw.get("data", {})), config, progress=False,
              resume=kw.get("resume", False), conditional=kw.get("conditional"))


def test_resume_errors_name_the_file_and_the_fix(tmp_path):
    config = TrainConfig(steps=2, batch_size=4, checkpoint_every=1, precision="fp32")
    train(SimpleUNet(**SMALL), NoiseSchedule(100), _digits(), config, checkpoint_dir=tmp_path, progress=False)
    wider = SimpleUNet(**{**SMALL, "base_channels": 16})
    with pytest.raises(CheckpointError, match=r"train_state.pt does not fit this model .*Resume with the same settings"):
        train(wider, NoiseSchedule(100), _digits(), TrainConfig(steps=4, batch_size=4), checkpoint_dir=tmp_path,
              resume=True, progress=False)
    with pytest.raises(ValueError, match=r"is at step 2, nothing left to do for steps=2; raise --steps"):
        train(SimpleUNet(**SMALL), NoiseSchedule(100), _digits(), config, checkpoint_dir=tmp_path, resume=True,
              progress=False)
    state = tmp_path / "train_state.pt"
    for content, pattern in ((b"", "is not a training state that can be loaded safely"),
                             ({"foo": 1}, r"lacks \['model', 'ema', 'optimizer', 'step', 'history'\]"),
                             ([1, 2], "holds a list, not a training state")):
        if isinstance(content, bytes):
            state.write_bytes(content)
        else:
            save_training_state(state, content)  # type: ignore[arg-type]
        with pytest.raises(CheckpointError, match=pattern):
            train(SimpleUNet(**SMALL), NoiseSchedule(100), _digits(), TrainConfig(steps=4, batch_size=4),
                  checkpoint_dir=tmp_path, resume=True, progress=False)


# -- checkpoints -----------------------------------------------------------------------------------
def test_damaged_checkpoints_name_the_file_and_field(ckpt, tmp_path):
    garbled = _rewrite_metadata(ckpt, tmp_path / "garbled.safetensors", model_config="{base_channels: 8")
    with pytest.raises(CheckpointError, match="garbled.safetensors: the metadata field 'model_config' is not valid JSON"):
        load_model(garbled)
    cfg = json.loads(json.dumps({**ModelConfig(**SMALL).to_dict(), "base_channels": "abc"}))
    wrong = _rewrite_metadata(ckpt, tmp_path / "abc.safetensors", model_config=json.dumps(cfg))
    with pytest.raises(CheckpointError, match="abc.safetensors has an unreadable 'model_config': .*'base_channels'.*'abc'"):
        load_model(wrong)
    huge = _rewrite_metadata(ckpt, tmp_path / "huge.safetensors",
                             model_config=json.dumps({**ModelConfig(**SMALL).to_dict(), "base_channels": 4096}))
    with pytest.raises(CheckpointError, match=r"huge.safetensors: its model_config \(\{'base_channels': 4096, "
                                              r"'channel_mults': \[1, 2\]\}\) implies [\d,]+ parameters \([\d.]+ GiB "
                                              r"of float32 weights\), more than the 500,000,000"):
        load_model(huge)  # refused from its shapes alone, before gigabytes are allocated
    bad_schedule = _rewrite_metadata(ckpt, tmp_path / "s.safetensors", schedule_config='{"num_timesteps": 100, "kind": "sqrt"}')
    with pytest.raises(CheckpointError, match="s.safetensors has an unreadable 'schedule_config'.*valid kinds"):
        load_model(bad_schedule)
    with pytest.raises(CheckpointError, match="is a folder; give the .safetensors file inside it"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint at .*missing.safetensors; train one"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "judge.safetensors"
    junk.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="judge.safetensors is not a safetensors file"):
        load_judge(junk)


# -- the command line ------------------------------------------------------------------------------
def cli_error(capsys, argv):
    """Run the CLI (``results`` is ``python -m tools.results``); it must exit with status 2. Returns its stderr."""
    from tools import results
    try:
        code = results.main(argv[1:]) if argv[0] == "results" else main(argv)
    except SystemExit as exit_info:  # argparse refuses before anything runs
        code = int(exit_info.code or 0)
    assert code == 2, argv
    return capsys.readouterr().err


CLI_CASES = [
    ("train-steps-0", ["train", "--steps", "0"], r"--steps: the value must be a whole number >= 1, got 0"),
    ("train-steps-neg", ["train", "--steps", "-5"], r"--steps: the value must be a whole number >= 1, got -5"),
    ("train-batch-neg", ["train", "--batch-size", "-4"], r"--batch-size: the value must be a whole number >= 1, got -4"),
    ("train-batch-0", ["train", "--batch-size", "0"], r"--batch-size: the value must be a whole number >= 1, got 0"),
    ("train-lr-0", ["train", "--lr", "0"], r"--lr: the value must be a finite number in \(0, 10\], got 0.0"),
    ("train-lr-nan", ["train", "--lr", "nan"], r"--lr: the value must be a finite number in \(0, 10\], got nan"),
    ("train-gamma-negative", ["train", "--min-snr-gamma", "-1"],
     r"--min-snr-gamma: the value must be a finite number in \[0, 1e\+06\] \(0: the plain eps loss L_simple\), got -1.0"),
    ("train-dataset", ["train", "--dataset", "imagenet"], r"--dataset: invalid choice: 'imagenet'"),
    ("quest-steps-0", ["quest", "--steps", "0"], r"--steps: the value must be a whole number >= 1, got 0"),
    ("judge-epochs-0", ["train-judge", "--epochs", "0"], r"--epochs: the value must be a whole number >= 1, got 0"),
    ("sample-eta-5", ["sample", "--checkpoint", "x", "--eta", "5"], r"--eta: the value must be a finite number in \[0, 1\] \(0: deterministic DDIM, 1: DDPM-like\), got 5.0"),
    ("sample-eta-nan", ["sample", "--checkpoint", "x", "--eta", "nan"], r"--eta: the value must be a finite number in \[0, 1\].*got nan"),
    ("sample-guidance-nan", ["sample", "--checkpoint", "x", "--guidance", "nan"], r"--guidance: the value must be a finite number in \[-100, 100\], got nan"),
    ("sample-guidance-inf", ["sample", "--checkpoint", "x", "--guidance", "inf"], r"--guidance: the value must be a finite number in \[-100, 100\], got inf"),
    ("seed-65bit", ["sample", "--checkpoint", "x", "--seed", str(2**64)], r"--seed: the value must be a whole number from 0 to 9223372036854775807, got 18446744073709551616"),
    ("seed-negative", ["train", "--seed", "-1"], r"--seed: the value must be a whole number from 0 to 9223372036854775807, got -1"),
    ("evaluate-one", ["evaluate", "--checkpoint", "x", "--num-samples", "1"], r"--num-samples: the value must be a whole number >= 2, got 1"),
    ("sample-per-digit", ["sample", "--checkpoint", "x", "--per-digit", "0"], r"--per-digit: the value must be a whole number >= 1, got 0"),
    ("sample-digits", ["sample", "--checkpoint", "x", "--digits", "3,x"], "--digits takes digits separated by commas"),
    ("sample-digit-10", ["sample", "--checkpoint", "x", "--digits", "10"], "--digits must list digits 0-9"),
    ("sample-sampler", ["sample", "--checkpoint", "x", "--sampler", "dpm"], r"--sampler: invalid choice: 'dpm' \(choose from '?ddpm'?, '?ddim'?, '?dpm\+\+'?, '?euler'?, '?heun'?\)"),
    ("sample-dpm-eta", ["sample", "--checkpoint", "{ckpt}", "--sampler", "dpm++", "--eta", "0.5"],
     r"eta=0.5 applies to the ddim sampler only \(dpm\+\+ has no eta\)"),
    ("bench-seconds", ["bench", "--seconds", "0"], r"--seconds: the value must be a finite number in \(0, 3600\], got 0.0"),
    ("sample-missing", ["sample", "--checkpoint", "nowhere.safetensors"], "no checkpoint at nowhere.safetensors"),
    ("evaluate-missing", ["evaluate", "--checkpoint", "nowhere.safetensors"], "no checkpoint at nowhere.safetensors"),
    ("sample-device", ["sample", "--checkpoint", "{ckpt}", "--device", "gpu0"], "unknown device 'gpu0'"),
    ("sample-out-is-ckpt", ["sample", "--checkpoint", "{ckpt}", "--out", "{ckpt}"],
     "same file as the input .*m.safetensors; writing it would destroy the input"),
    ("sample-out-dir", ["sample", "--checkpoint", "{ckpt}", "--out", "{tmp}"], "is an existing directory; give a file name"),
    ("train-out-proc", ["train", "--preset", "smoke", "--out", "/proc/m.safetensors"],
     r"cannot write the weights file \(--out\) /proc/m.safetensors: the folder /proc is not writable"),
    ("sample-out-proc", ["sample", "--checkpoint", "{ckpt}", "--out", "/proc/a.png"],
     r"cannot write the picture \(--out\) /proc/a.png: the folder /proc is not writable"),
    ("sample-per-digit-huge", ["sample", "--checkpoint", "{ckpt}", "--per-digit", "100000", "--out", "{tmp}/a.png"],
     r"--per-digit 100000 asks for 1,000,000 samples .* add --allow-many"),
    ("results-out-is-ckpt", ["results", "--checkpoint", "{ckpt}", "--out", "{ckpt}"], "same file as the input"),
    ("train-out-dir", ["train", "--preset", "smoke", "--out", "{tmp}"], r"weights file \(--out\) .* is an existing directory"),
    ("train-base-channels", ["train", "--preset", "smoke", "--base-channels", "6", "--out", "{tmp}/m.safetensors"],
     "pick base_channels as a multiple of 4"),
    ("quest-out-file", ["quest", "--preset", "smoke", "--out", "{ckpt}"], r"output folder \(--out\) .* is a file"),
    ("quest-resume-nothing", ["quest", "--preset", "smoke", "--resume", "--out", "{tmp}/q"],
     r"nothing to resume in .*quest_checkpoint: neither autoencoder.safetensors nor train_state.pt is there; drop --resume"),
    ("judge-out-dir", ["train-judge", "--out", "{tmp}"], r"judge weights \(--out\) .* is an existing directory"),
    ("autoencoder-out-dir", ["train-autoencoder", "--preset", "smoke", "--out", "{tmp}"],
     r"autoencoder weights \(--out\) .* is an existing directory; give a file name, e.g. .*model.safetensors"),
    ("autoencoder-steps", ["train-autoencoder", "--steps", "0"], r"--steps: the value must be a whole number >= 1, got 0"),
    ("train-autoencoder-missing", ["train", "--preset", "smoke", "--autoencoder", "{tmp}/none.safetensors", "--out",
                                   "{tmp}/m.safetensors"], r"no autoencoder at .*none.safetensors; train one with"),
    ("train-autoencoder-is-a-unet", ["train", "--preset", "smoke", "--autoencoder", "{ckpt}", "--out", "{tmp}/m.safetensors"],
     r"not an autoencoder checkpoint .*give the file that `python -m ddpm_lib train-autoencoder` writes"),
]


@pytest.mark.parametrize("argv,pattern", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_bad_input_with_a_message(argv, pattern, ckpt, tmp_path, capsys):
    argv = [a.format(ckpt=ckpt, tmp=tmp_path) for a in argv]
    err = cli_error(capsys, argv)
    assert re.search(pattern, err), err
    assert not list(tmp_path.glob("*_checkpoint"))  # refused before any training started


@pytest.mark.parametrize("kind", ["file", "unwritable", "missing"])
def test_a_bad_course_root_is_refused_before_any_work(kind, ckpt, tmp_path, capsys, monkeypatch):
    root = {"file": tmp_path / "a_file", "unwritable": Path("/proc/sys"), "missing": tmp_path / "new" / "course"}[kind]
    if kind == "file":
        root.write_text("x")
    monkeypatch.setenv("DDPM_COURSE_ROOT", str(root))
    argv = ["sample", "--checkpoint", str(ckpt), "--per-digit", "1", "--steps", "2", "--out", str(tmp_path / "a.png")]
    if kind == "missing":  # created, and said so
        assert main(argv) == 0
        assert root.is_dir() and f"created the course folder {root} (DDPM_COURSE_ROOT)" in capsys.readouterr().err
        return
    err = cli_error(capsys, argv)
    assert f"DDPM_COURSE_ROOT={root} is" in err and "point DDPM_COURSE_ROOT at a folder you can write to" in err, err
    assert not (tmp_path / "a.png").exists()


def test_quality_reads_a_negative_budget_as_a_value_and_refuses_it(capsys):
    from tools import quality
    with pytest.raises(SystemExit):
        quality.main(["--budgets", "-1,2"])
    assert "budget (minutes) must be a finite number in (0, 600], got -1.0" in capsys.readouterr().err
