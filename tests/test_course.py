"""The models notebooks start from: every notebook finds or makes its own, whatever ran before it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ddpm_lib.checkpoint import save_model
from ddpm_lib.config import get_preset
from ddpm_lib.course import notebook04_weights, notebook_model, preset_model, reflow_model, smoke_weights
from ddpm_lib.paths import PRETRAINED_PATH


def test_preset_model_is_seeded_and_leaves_the_global_rng_alone() -> None:
    preset = get_preset("smoke")
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, schedule = preset_model(preset, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    b, _ = preset_model(preset, seed=7)
    c, _ = preset_model(preset, seed=8)
    first = next(iter(a.state_dict()))
    assert torch.equal(a.state_dict()[first], b.state_dict()[first])
    assert not torch.equal(a.state_dict()[first], c.state_dict()[first])
    assert schedule.num_timesteps == preset.num_timesteps == 100 and schedule.kind == "cosine"


def test_smoke_notebooks_train_their_own_model_once_when_notebook_04_has_not_run(tmp_path: Path, capsys) -> None:
    preset = get_preset("smoke")
    model, schedule, info, path = notebook_model(preset, runs_dir=tmp_path)
    assert path == smoke_weights(tmp_path) and path.is_file()
    assert info["steps"] == preset.train.steps and not model.training
    assert schedule.num_timesteps == preset.num_timesteps
    assert "notebook 04 has not run in this folder" in capsys.readouterr().out
    stamp = path.stat().st_mtime_ns
    again = notebook_model(preset, runs_dir=tmp_path)
    assert again.file == path and path.stat().st_mtime_ns == stamp, "the cached model is reused, not retrained"
    assert capsys.readouterr().out == ""


def test_smoke_notebooks_prefer_the_model_notebook_04_saved(tmp_path: Path) -> None:
    preset = get_preset("smoke")
    model, schedule = preset_model(preset)
    saved = save_model(model, notebook04_weights("smoke", tmp_path), schedule, note="notebook 04")
    _, _, info, path = notebook_model(preset, runs_dir=tmp_path)
    assert path == saved and info["note"] == "notebook 04"
    assert not smoke_weights(tmp_path).exists()


def test_cpu_notebooks_use_the_shipped_model_and_name_both_places_when_it_is_gone(tmp_path: Path) -> None:
    model, _, info, path = notebook_model(get_preset("cpu"), runs_dir=tmp_path)
    assert path == PRETRAINED_PATH and info["steps"] == 3000  # `make pretrained`
    assert model.config == get_preset("cpu").model  # the shipped model is the cpu preset's, retrained with its recipe
    with pytest.raises(FileNotFoundError) as err:
        notebook_model(get_preset("cpu"), runs_dir=tmp_path, pretrained=tmp_path / "gone.safetensors")
    assert "gone.safetensors" in str(err.value) and str(notebook04_weights("cpu", tmp_path)) in str(err.value)


def test_each_loader_refuses_a_checkpoint_of_another_kind(tmp_path: Path) -> None:
    from ddpm_lib.course import flow_model, latent_model
    from ddpm_lib.flow import FlowPath
    from ddpm_lib.schedule import NoiseSchedule

    cpu = get_preset("cpu")
    model, _ = preset_model(get_preset("smoke"))
    ddpm = save_model(model, tmp_path / "ddpm.safetensors", NoiseSchedule(100, "cosine"))
    flow = save_model(model, tmp_path / "flow.safetensors", FlowPath(100))
    with pytest.raises(ValueError, match=r"flow.safetensors records no DDPM noise schedule .*python -m ddpm_lib train"):
        notebook_model(cpu, pretrained=flow, runs_dir=tmp_path)
    with pytest.raises(ValueError, match=r"ddpm.safetensors records no flow-matching path .*make pretrained-flow"):
        flow_model(cpu, pretrained=ddpm)
    with pytest.raises(ValueError, match=r"ddpm.safetensors is a pixel-space DDPM: it names no autoencoder"):
        latent_model(cpu, pretrained=ddpm)
    with pytest.raises(ValueError, match=r"ddpm.safetensors records no flow-matching path .*make pretrained-reflow"):
        reflow_model(cpu, pretrained=ddpm)
    with pytest.raises(ValueError, match=r"flow.safetensors names no autoencoder.*make pretrained-reflow"):
        reflow_model(cpu, pretrained=flow)


def test_reflow_model_is_the_shipped_one_or_a_smoke_one_reflowed_once(tmp_path: Path, capsys) -> None:
    from ddpm_lib.flow import FlowPath
    from ddpm_lib.paths import REFLOW_PATH

    (_, path, info, file), codec = reflow_model(get_preset("cpu"))
    assert file == REFLOW_PATH and isinstance(path, FlowPath) and info["pairs"] == 10_000
    assert codec.latent_shape == (4, 8, 8)
    smoke = get_preset("smoke")
    (model, path, info, file), _ = reflow_model(smoke, runs_dir=tmp_path)
    assert file == tmp_path / "smoke" / "reflow-model" / "model.safetensors" and not model.training
    assert info["pairs"] == 50 and info["steps"] == smoke.train.steps and path.num_timesteps == smoke.num_timesteps
    assert "reflowing the smoke preset's latent model" in capsys.readouterr().out
    stamp = file.stat().st_mtime_ns
    reflow_model(smoke, runs_dir=tmp_path)
    assert file.stat().st_mtime_ns == stamp and "reflowing" not in capsys.readouterr().out
