"""Data-parallel training: two CPU processes under torchrun (Gloo) against one process, resume, and failures."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from ddpm_lib.__main__ import main
from ddpm_lib.checkpoint import load_training_state
from ddpm_lib.config import get_preset
from ddpm_lib.data import ImageDataset
from ddpm_lib.distributed import DistributedContext, choose_backend, context_from_env
from ddpm_lib.runtime import seeded
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.train import train
from ddpm_lib.unet import SimpleUNet

STEPS, BATCH = 6, 16


def test_context_from_torchrun_environment():
    assert context_from_env({}) == DistributedContext()  # no torchrun: one process
    ctx = context_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main) == (1, 2, True, False)
    assert ctx.batch_slice(32) == slice(16, 32)
    with pytest.raises(ValueError, match="RANK='x' is not a whole number; start the run with `torchrun"):
        context_from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="need 0 <= RANK < WORLD_SIZE"):
        context_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_bad_setups_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="global batch size 32 is not divisible by the 3 processes .*--batch-size 30, 33"):
        DistributedContext(rank=0, world_size=3).local_batch(32)
    with pytest.raises(ValueError, match="backend 'nccl' needs CUDA GPUs.*use --backend gloo"):
        choose_backend(torch.device("cpu"), "nccl")
    with pytest.raises(ValueError, match="valid backends are gloo, nccl"):
        choose_backend(torch.device("cpu"), "mpi")
    assert choose_backend(torch.device("cpu")) == "gloo"


@pytest.mark.parametrize("argv,pattern", [
    (["--batch-size", "32"], r"error \(rank 0 of 3\): the global batch size 32 is not divisible by the 3 processes"),
    (["--backend", "nccl"], r"error \(rank 0 of 3\): backend 'nccl' needs CUDA GPUs"),
])
def test_cli_refuses_bad_distributed_setups_before_training(argv, pattern, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(["train", "--preset", "smoke", "--out", str(tmp_path / "m.safetensors"), *argv]) == 2
    import re
    assert re.search(pattern, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def _data():
    g = torch.Generator().manual_seed(0)
    return ImageDataset(torch.rand(64, 1, 32, 32, generator=g) * 2 - 1, torch.arange(64) % 10, tuple("0123456789"),
                        "random")


SCRIPT = textwrap.dedent("""
    import os, sys, torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    from ddpm_lib.config import get_preset
    from ddpm_lib.data import ImageDataset
    from ddpm_lib.distributed import context_from_env, start, stop
    from ddpm_lib.runtime import seeded
    from ddpm_lib.schedule import NoiseSchedule
    from ddpm_lib.train import train
    from ddpm_lib.unet import SimpleUNet

    out, mode = sys.argv[1], sys.argv[2]
    g = torch.Generator().manual_seed(0)
    data = ImageDataset(torch.rand(64, 1, 32, 32, generator=g) * 2 - 1, torch.arange(64) % 10, tuple("0123456789"),
                        "random")
    ctx = start(context_from_env(), torch.device("cpu"))
    preset = get_preset("smoke", train_steps={steps}, train_batch_size={batch}, train_precision="fp32",
                        train_checkpoint_every=2)

    def fresh():
        with seeded(0):
            return SimpleUNet.from_config(preset.model)

    def die(step, loss):
        if mode == "die" and ctx.rank == 1 and step == 3:
            os._exit(3)  # a rank that crashes mid-run

    result = train(fresh(), NoiseSchedule(100, "cosine"), data, preset.train, dist=ctx, progress=False,
                   checkpoint_dir=os.path.join(out, "run"), callback=die)
    save_file(dict(result.model.state_dict()), os.path.join(out, f"rank{{ctx.rank}}.safetensors"))
    torch.save(torch.tensor(result.history), os.path.join(out, f"history{{ctx.rank}}.pt"))
    if mode == "resume":  # the same run, stopped after 3 steps and resumed
        half = get_preset("smoke", train_steps=3, train_batch_size={batch}, train_precision="fp32",
                          train_checkpoint_every=2).train
        train(fresh(), NoiseSchedule(100, "cosine"), data, half, dist=ctx, progress=False,
              checkpoint_dir=os.path.join(out, "resumed"))
        again = train(fresh(), NoiseSchedule(100, "cosine"), data, preset.train, dist=ctx, progress=False,
                      checkpoint_dir=os.path.join(out, "resumed"), resume=True)
        save_file(dict(again.model.state_dict()), os.path.join(out, f"resumed{{ctx.rank}}.safetensors"))
    stop(ctx)
""").format(steps=STEPS, batch=BATCH)


def _torchrun(tmp_path, mode):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           str(script), str(tmp_path), mode], env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_train_like_one_and_resume_exactly(tmp_path):
    run = _torchrun(tmp_path, "resume")
    assert run.returncode == 0, run.stderr[-3000:]
    rank0, rank1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for k in rank0:  # DistributedDataParallel keeps every rank's weights identical
        assert torch.equal(rank0[k], rank1[k]), k
    # one process on the same global batch takes the same steps, up to the order of float additions
    preset = get_preset("smoke", train_steps=STEPS, train_batch_size=BATCH, train_precision="fp32")
    with seeded(0):
        model = SimpleUNet.from_config(preset.model)
    single = train(model, NoiseSchedule(100, "cosine"), _data(), preset.train, progress=False)
    history = torch.load(tmp_path / "history0.pt", weights_only=True)
    torch.testing.assert_close(history[:, 1].double(), torch.tensor([v for _, v in single.history], dtype=torch.float64),
                               atol=1e-5, rtol=1e-5)
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(rank0[k], v, atol=1e-4, rtol=1e-4)
    # stopped at step 3 and resumed: bitwise the uninterrupted two-process run
    resumed = load_file(str(tmp_path / "resumed0.safetensors"))
    for k in rank0:
        assert torch.equal(resumed[k], rank0[k]), k
    state = load_training_state(tmp_path / "run" / "train_state.pt")
    assert state["world_size"] == 2 and int(state["step"]) == STEPS


def test_a_rank_that_dies_stops_the_run_and_leaves_whole_checkpoints(tmp_path):
    run = _torchrun(tmp_path, "die")
    assert run.returncode != 0
    report = run.stdout + run.stderr
    assert "Root Cause" in report and "rank      : 1 (local_rank: 1)" in report  # torchrun names the rank that died
    # the survivor, unless torchrun's SIGTERM reached it first, says why it stops and what to do
    if "Connection closed by peer" in report:
        assert "rank 0 of 2: another process of this run stopped during step 4" in report
        assert "start the run again with --resume" in report
    folder = tmp_path / "run"
    assert not [p.name for p in folder.glob("*.tmp")] and not list(folder.glob(".*"))  # nothing half written
    # rank 1 died after step index 3; rank 0 had written its step-4 checkpoint whole, then stopped
    state = load_training_state(folder / "train_state.pt")
    assert int(state["step"]) == 4
    assert not (tmp_path / "rank0.safetensors").exists()


def test_torchrun_cli_trains_writes_one_checkpoint_and_resumes(tmp_path):
    import json

    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}

    def torchrun(*extra):
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                               "-m", "ddpm_lib", "train", "--preset", "smoke", "--out", str(out), *extra],
                              env=env, capture_output=True, text=True, timeout=300)

    first = torchrun("--steps", "4")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("wrote ") == 1  # rank 0 alone reports and writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.json", "ddp.safetensors", "ddp_checkpoint"]
    assert sorted(p.name for p in (tmp_path / "ddp_checkpoint").iterdir()) == ["model.safetensors", "train_state.pt"]
    recipe = json.loads((tmp_path / "ddp.json").read_text())
    assert (recipe["world_size"], recipe["global_batch"], recipe["batch_per_process"]) == (2, 32, 16)
    second = torchrun("--steps", "6", "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert int(load_training_state(tmp_path / "ddp_checkpoint" / "train_state.pt")["step"]) == 6
