import json

import pytest
import torch
from safetensors.torch import save_file

from ddpm_lib.checkpoint import (CheckpointError, load_model, load_training_state, load_weights,
                                 read_metadata, save_model, save_training_state)
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.unet import SimpleUNet


def small(num_classes=10, base=8):
    torch.manual_seed(0)
    return SimpleUNet(base_channels=base, channel_mults=(1, 2, 2, 2), num_classes=num_classes, norm_groups=4,
                      attention_heads=2).eval()


def test_round_trip_rebuilds_model_and_schedule(tmp_path):
    m = small()
    path = save_model(m, tmp_path / "sub" / "m.safetensors", NoiseSchedule(500, "cosine"), steps=12, note="hi")
    loaded, schedule, info = load_model(path)
    x, t, y = torch.randn(2, 1, 32, 32), torch.tensor([1, 400]), torch.tensor([3, 4])
    torch.testing.assert_close(loaded(x, t, y), m(x, t, y), rtol=0, atol=0)
    assert loaded.config == m.config
    assert isinstance(schedule, NoiseSchedule) and schedule.num_timesteps == 500 and schedule.kind == "cosine"
    assert info == {"steps": 12, "note": "hi"}
    assert read_metadata(path)["model_config"]["base_channels"] == 8


def test_file_that_is_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_model(junk)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="not a ddpm_lib model checkpoint"):
        load_model(other)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_model(tmp_path / "missing.safetensors")


def test_config_mismatch_names_the_keys(tmp_path):
    path = save_model(small(base=8), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_weights(small(base=16), path)
    with_cross_attention = SimpleUNet(base_channels=8, channel_mults=(1, 2, 2, 2), num_classes=10, context_dim=4,
                                      norm_groups=4, attention_heads=2)
    with pytest.raises(CheckpointError, match="missing"):
        load_weights(with_cross_attention, path)


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = save_model(small(), tmp_path / "m.safetensors")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_training_state_is_loaded_without_unpickling(tmp_path):
    state = {"step": 7, "w": torch.ones(3), "history": torch.zeros(2, 2)}
    path = save_training_state(tmp_path / "s.pt", state)
    back = load_training_state(path)
    assert back["step"] == 7 and torch.equal(back["w"], torch.ones(3))

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="safely"):
        load_training_state(tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="nothing to resume"):
        load_training_state(tmp_path / "none.pt")


def test_metadata_is_json(tmp_path):
    path = save_model(small(), tmp_path / "m.safetensors", NoiseSchedule(), recipe={"lr": 1e-3})
    meta = read_metadata(path)
    assert meta["schedule_config"] == {"num_timesteps": 1000, "kind": "linear"}
    assert json.loads(json.dumps(meta))["info"]["recipe"]["lr"] == 1e-3
