import json

import pytest
from PIL import Image

from ddpm_lib.__main__ import COMMANDS, build_parser, main
from ddpm_lib.checkpoint import load_model


def last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


@pytest.fixture(scope="module")
def quest_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("quest")
    assert main(["quest", "--preset", "smoke", "--out", str(out / "chaos_sculptures"), "--json"]) == 0
    return out / "chaos_sculptures"


def test_quest_writes_the_creation_the_strip_and_the_checkpoint(quest_dir):
    img = Image.open(quest_dir / "new_creation.png")
    assert img.format == "PNG" and img.size[0] > 100 and img.size[1] > 100
    assert Image.open(quest_dir / "denoising_progress.png").format == "PNG"
    model, schedule, info = load_model(quest_dir / "quest_checkpoint" / "model.safetensors")
    assert model.num_classes == 10 and schedule is not None and schedule.num_timesteps == 100 and info["weights"] == "ema"  # smoke preset
    # latent diffusion: the UNet reads 4x8x8 latents and names the autoencoder trained beside it
    assert model.in_channels == 4 and info["autoencoder"] == str(quest_dir / "quest_checkpoint" / "autoencoder.safetensors")
    assert (quest_dir / "quest_checkpoint" / "autoencoder.safetensors").is_file()
    assert not list(quest_dir.rglob("*.tmp")) and not list(quest_dir.rglob(".*tmp"))


def test_pixel_quest_trains_the_pixel_ddpm(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["quest", "--pixel", "--preset", "smoke", "--steps", "3", "--out", str(out), "--json"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed.strip().splitlines()[-1])
    assert summary["space"] == "pixel" and summary["steps"] == 3 and "autoencoder" not in summary
    assert "Quest (smoke preset, pixel space)" in printed and "autoencoder" not in printed
    model, _, info = load_model(out / "quest_checkpoint" / "model.safetensors")
    assert model.in_channels == 1 and "autoencoder" not in info
    assert not (out / "quest_checkpoint" / "autoencoder.safetensors").exists()


def test_quest_json_summary(tmp_path, capsys):
    assert main(["quest", "--preset", "smoke", "--out", str(tmp_path / "new" / "dir"), "--steps", "3", "--json"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed.strip().splitlines()[-1])
    assert summary["steps"] == 3 and summary["preset"] == "smoke" and summary["space"] == "latent"
    assert summary["autoencoder_held_out_mse"] > 0 and summary["autoencoder_seconds"] > 0
    # the estimate is printed before training starts, from the same counts the run then does
    estimate = next(line for line in printed.splitlines() if line.startswith("estimate for this machine: about "))
    assert "(autoencoder " in estimate and "then the latent UNet " in estimate
    assert printed.index(estimate) < printed.index("autoencoder trained in ") < printed.index("trained the latent UNet in ")
    assert summary["estimated_seconds"] > 0 and "(20 steps of batch 32), then a " in printed  # UNet: --steps 3
    assert "SimpleUNet on its latents (3 steps of batch 32)" in printed
    assert 0.0 <= summary["accuracy"] <= 1.0 and summary["frechet"] > 0 and summary["eval_samples"] == 100
    # a 3-step model draws noise: grey everywhere, far above the black background of real digits
    assert summary["grain"] > 0.05 > 1e-3 > summary["grain_floor"]
    assert f"background grain (mean brightness away from the strokes, 0 black to 1 white): {summary['grain']:.4f}" in printed
    assert (tmp_path / "new" / "dir" / "new_creation.png").is_file()  # folders created as needed


def test_sample_digits_and_evaluate(quest_dir, tmp_path, capsys):
    ckpt = str(quest_dir / "quest_checkpoint" / "model.safetensors")
    out = tmp_path / "s.png"
    assert main(["sample", "--checkpoint", ckpt, "--digits", "3,7", "--per-digit", "2", "--steps", "3",
                 "--sampler", "ddim", "--guidance", "2", "--out", str(out), "--json"]) == 0
    assert last_json(capsys)["num_samples"] == 4 and Image.open(out).format == "PNG"
    assert main(["evaluate", "--checkpoint", ckpt, "--num-samples", "20", "--steps", "2", "--json"]) == 0
    result = last_json(capsys)
    assert result["num_samples"] == 20 and {r["name"] for r in result["rows"]} >= {"real digits (floor)"}
    assert 0.0 <= result["grain_floor"] < 1e-3 and 0.0 <= result["grain"] <= 1.0


def test_train_and_resume(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["train", "--preset", "smoke", "--steps", "4", "--out", str(out), "--json"]) == 0
    assert last_json(capsys)["steps"] == 4
    assert main(["train", "--preset", "smoke", "--steps", "6", "--out", str(out), "--resume", "--json"]) == 0
    assert last_json(capsys)["steps"] == 6
    model, _, info = load_model(out)
    assert info["steps"] == 6


def test_train_min_snr_gamma_reaches_the_recipe(tmp_path, capsys):
    out = tmp_path / "g.safetensors"
    assert main(["train", "--preset", "smoke", "--steps", "2", "--min-snr-gamma", "5", "--out", str(out), "--json"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["train"]["min_snr_gamma"] == 5.0


def test_train_flow_matching_then_sample_and_evaluate_with_its_samplers(tmp_path, capsys):
    out = tmp_path / "flow.safetensors"
    assert main(["train", "--preset", "cpu", "--objective", "velocity", "--steps", "2", "--batch-size", "8",
                 "--base-channels", "8", "--out", str(out), "--json"]) == 0
    assert "without the preset's min-SNR weighting" in capsys.readouterr().out  # the cpu preset's gamma is 5
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert recipe["schedule"] == {"num_timesteps": 1000, "kind": "flow"} and recipe["train"]["min_snr_gamma"] == 0.0
    assert main(["sample", "--checkpoint", str(out), "--digits", "3", "--per-digit", "2", "--steps", "2",
                 "--out", str(tmp_path / "s.png")]) == 0
    assert "(heun, guidance 2.0)" in capsys.readouterr().out  # a flow model samples with heun unless told
    assert main(["evaluate", "--checkpoint", str(out), "--sampler", "ddim", "--num-samples", "10"]) == 2
    assert "use sampler 'euler' or 'heun'" in capsys.readouterr().err


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    assert main(["sample", "--checkpoint", str(junk)]) == 2
    assert "not a safetensors file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--checkpoint", str(junk), "--digits", "3,x"])
    assert exit_info.value.code == 2
    assert "digits" in capsys.readouterr().err


def test_help_lists_every_command_and_option(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert command in text
    with pytest.raises(SystemExit):
        parser.parse_args(["sample", "--help"])
    text = capsys.readouterr().out
    for option in ("--checkpoint", "--sampler", "--steps", "--guidance", "--digits", "--json"):
        assert option in text


def test_train_builds_a_model_with_the_datasets_channels_and_sample_draws_them(tmp_path, capsys, monkeypatch):
    import torch

    import ddpm_lib.__main__ as cli
    from ddpm_lib.data import ImageDataset

    colour = ImageDataset(torch.rand(40, 3, 32, 32) * 2 - 1, torch.arange(40) % 10, tuple("abcdefghij"), "cifar10")
    monkeypatch.setattr(cli, "load_dataset", lambda name, split: colour)  # CIFAR-10 itself cannot be downloaded here
    out = tmp_path / "rgb.safetensors"
    assert main(["train", "--preset", "smoke", "--dataset", "cifar10", "--steps", "2", "--batch-size", "8",
                 "--out", str(out), "--json"]) == 0
    model, _, _ = load_model(out)
    assert model.in_channels == 3
    recipe = json.loads(out.with_suffix(".json").read_text())  # written whole, valid JSON
    assert recipe["dataset"] == "cifar10" and recipe["model"]["in_channels"] == 3
    capsys.readouterr()
    png = tmp_path / "rgb.png"
    assert main(["sample", "--checkpoint", str(out), "--digits", "0,1", "--per-digit", "2", "--steps", "2",
                 "--out", str(png)]) == 0
    assert Image.open(png).mode in ("RGB", "RGBA")


def test_commands_leave_the_global_random_state_alone(tmp_path, quest_dir):
    import torch

    torch.manual_seed(1234)
    before = torch.get_rng_state()
    assert main(["quest", "--preset", "smoke", "--steps", "2", "--no-eval", "--out", str(tmp_path / "q")]) == 0
    assert main(["evaluate", "--checkpoint", str(quest_dir / "quest_checkpoint" / "model.safetensors"),
                 "--num-samples", "10", "--steps", "2"]) == 0
    assert torch.equal(torch.get_rng_state(), before)


def test_library_code_never_seeds_the_global_generator():
    from pathlib import Path

    import ddpm_lib

    offenders = [f"{p.name}:{i}" for p in sorted(Path(ddpm_lib.__file__).parent.glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if "torch.manual_seed(" in line and p.name != "runtime.py"]
    assert offenders == []  # runtime.seeded is the one place, and it restores the caller's state


def test_colour_images_end_to_end_train_judge_and_evaluate(tmp_path, capsys, monkeypatch):
    import torch

    import ddpm_lib.__main__ as cli
    import ddpm_lib.evaluate as evaluate
    from ddpm_lib.data import ImageDataset

    g = torch.Generator().manual_seed(0)
    fake = {split: ImageDataset(torch.rand(n, 3, 32, 32, generator=g) * 2 - 1, torch.arange(n) % 10,
                                tuple("abcdefghij"), "cifar10") for split, n in (("train", 64), ("test", 40))}
    loader = lambda name, split, root="data": fake[split]  # noqa: E731  (CIFAR-10 itself is not downloadable here)
    monkeypatch.setattr(cli, "load_dataset", loader)
    monkeypatch.setattr(evaluate, "load_dataset", loader)
    model, judge = tmp_path / "m.safetensors", tmp_path / "judge.safetensors"
    assert main(["train", "--preset", "smoke", "--dataset", "cifar10", "--steps", "2", "--batch-size", "8",
                 "--out", str(model)]) == 0
    assert main(["train-judge", "--dataset", "cifar10", "--epochs", "1", "--out", str(judge), "--json"]) == 0
    assert last_json(capsys)["dataset"] == "cifar10"
    assert main(["evaluate", "--checkpoint", str(model), "--dataset", "cifar10", "--judge", str(judge),
                 "--num-samples", "10", "--steps", "2", "--json"]) == 0
    assert last_json(capsys)["num_samples"] == 10
    assert main(["evaluate", "--checkpoint", str(model), "--dataset", "cifar10", "--num-samples", "10"]) == 2
    assert "the judge reads 1-channel ones" in capsys.readouterr().err  # the shipped digit judge cannot score colour


def test_quest_estimate_counts_the_training_and_sampling_work(monkeypatch):
    import torch

    import ddpm_lib.quest as quest
    from ddpm_lib.config import get_preset

    monkeypatch.setattr(quest, "training_rate", lambda *args, **kwargs: 100.0)  # images/s of the trial steps
    preset = get_preset("cpu")  # 1,150 steps of 128; DPM-Solver++, 15 evaluations; 500 scored samples
    est = quest.estimate_seconds(preset, torch.device("cpu"))
    assert est["train_seconds"] == pytest.approx(1150 * 128 / 100)
    # 110 pictured + 500 scored images, 2 forward passes per evaluation, a training image ~ 3 passes
    assert est["sample_seconds"] == pytest.approx(610 * 2 * 15 / 300)
    unscored = quest.estimate_seconds(preset, torch.device("cpu"), evaluate=False)
    assert unscored["sample_seconds"] == pytest.approx(110 * 2 * 15 / 300)
    ddpm = quest.estimate_seconds(get_preset("cpu", sampler="ddpm"), torch.device("cpu"), evaluate=False)
    assert ddpm["sample_seconds"] == pytest.approx(110 * 2 * 1000 / 300)
    assert est["autoencoder_seconds"] == 0.0


def test_latent_quest_estimate_adds_the_autoencoder_and_times_the_latent_unet_on_latents(monkeypatch):
    import torch

    import ddpm_lib.quest as quest
    from ddpm_lib.config import get_preset
    from ddpm_lib.latent import latent_recipe

    seen: dict[str, int] = {}

    def rate(config, batch, precision, channels_last, device, seconds, side=32):
        seen.update(in_channels=config.in_channels, side=side, batch=batch)
        return 1000.0

    monkeypatch.setattr(quest, "training_rate", rate)
    monkeypatch.setattr(quest, "autoencoder_rate", lambda config, training, device, seconds: 500.0)
    preset = get_preset("cpu")
    est = quest.estimate_seconds(preset, torch.device("cpu"), latent=latent_recipe(preset))
    assert seen == {"in_channels": 4, "side": 8, "batch": 128}  # the latent UNet on 4x8x8 latents
    assert est["autoencoder_seconds"] == pytest.approx(1000 * 128 / 500)  # 1,000 autoencoder steps of 128
    assert est["train_seconds"] == pytest.approx(2000 * 128 / 1000)  # the recipe's 2,000 latent steps
    assert est["sample_seconds"] == pytest.approx(610 * 2 * 15 / 3000)
    shorter = quest.estimate_seconds(preset, torch.device("cpu"), latent=latent_recipe(preset), steps=500)
    assert shorter["train_seconds"] == pytest.approx(500 * 128 / 1000)


def test_latent_diffusion_train_autoencoder_then_train_sample_and_evaluate(tmp_path, capsys):
    ae = tmp_path / "ae.safetensors"
    assert main(["train-autoencoder", "--preset", "smoke", "--out", str(ae), "--json"]) == 0
    summary = last_json(capsys)
    assert summary["steps"] == 20 and summary["held_out_mse"] > 0 and summary["scale_factor"] > 0
    assert json.loads(ae.with_suffix(".json").read_text())["config"]["latent_channels"] == 4
    out = tmp_path / "latent.safetensors"
    assert main(["train", "--preset", "smoke", "--autoencoder", str(ae), "--steps", "2", "--out", str(out)]) == 0
    assert f"latents (4, 8, 8) of {ae}" in capsys.readouterr().out
    model, _, info = load_model(out)
    assert model.in_channels == 4 and info["autoencoder"] == str(ae)
    assert json.loads(out.with_suffix(".json").read_text())["autoencoder"] == str(ae)
    png = tmp_path / "s.png"
    assert main(["sample", "--checkpoint", str(out), "--digits", "3", "--per-digit", "2", "--steps", "2",
                 "--out", str(png)]) == 0
    assert "2 samples" in capsys.readouterr().out and Image.open(png).format == "PNG"
    assert main(["evaluate", "--checkpoint", str(out), "--steps", "2", "--num-samples", "20", "--json"]) == 0
    assert 0.0 <= last_json(capsys)["accuracy"] <= 1.0
    flow = tmp_path / "latent_flow.safetensors"  # flow matching on the same latents
    assert main(["train", "--preset", "smoke", "--objective", "velocity", "--autoencoder", str(ae), "--steps", "2",
                 "--out", str(flow)]) == 0
    assert main(["sample", "--checkpoint", str(flow), "--digits", "3", "--per-digit", "2", "--steps", "2",
                 "--out", str(png)]) == 0
    assert "(heun, guidance 2.0)" in capsys.readouterr().out
    ae.unlink()
    assert main(["evaluate", "--checkpoint", str(out), "--steps", "2", "--num-samples", "20"]) == 2
    assert "make pretrained-latent" in capsys.readouterr().err
    assert main(["train", "--preset", "smoke", "--autoencoder", str(ae), "--steps", "2", "--out", str(out)]) == 2
    assert "train-autoencoder --out" in capsys.readouterr().err


def test_a_quest_killed_in_its_autoencoder_stage_resumes_nothing_and_restarts_clean(tmp_path, capsys, monkeypatch):
    """Stopped while training the autoencoder (Ctrl-C), or killed while writing it (a temp file left behind):
    --resume finds nothing to resume and says so, and a fresh run removes the debris and completes."""
    import ddpm_lib.course as course

    out = tmp_path / "q"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(course, "train_codec", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["quest", "--preset", "smoke", "--out", str(out), "--steps", "3", "--no-eval"])
    monkeypatch.undo()
    ckpt = out / "quest_checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / ".autoencoder.safetensors.x1y2.tmp").write_bytes(b"half a file")  # what kill -9 mid-write leaves
    assert main(["quest", "--preset", "smoke", "--out", str(out), "--steps", "3", "--resume", "--no-eval"]) == 2
    assert "nothing to resume in" in capsys.readouterr().err
    assert main(["quest", "--preset", "smoke", "--out", str(out), "--steps", "3", "--no-eval"]) == 0
    assert (ckpt / "autoencoder.safetensors").is_file() and not list(ckpt.glob(".*.tmp"))


def test_quest_resume_refuses_another_presets_folder_before_training(quest_dir, tmp_path, capsys):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(quest_dir, other)
    assert main(["quest", "--preset", "cpu", "--resume", "--out", str(other), "--no-eval"]) == 2
    err = capsys.readouterr().err
    assert "was trained with another recipe (autoencoder widths (8, 8)), not the cpu preset's (16, 32)" in err, err
    assert main(["quest", "--preset", "smoke", "--pixel", "--resume", "--out", str(other), "--no-eval"]) == 2
    assert "holds a latent Quest (autoencoder.safetensors is there); resume it without --pixel" in capsys.readouterr().err
