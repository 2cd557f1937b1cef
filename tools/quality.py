"""Time to quality: train recipes for the same wall-clock budgets and score each with the judge.

``python -m tools.quality`` (``make quality``) runs :func:`run_quality`. For every recipe and
budget it measures the recipe's training images/s on this machine, turns the budget into a number
of steps, trains from scratch, and scores the EMA (or, for the peer, the plain) weights with the
course's judge: accuracy and Frechet distance over the real-digit floor, for each sampler asked
for. Numbers only, never assertions; the README quotes them beside the machine's ``bench`` peaks.

Recipes:
- ``baseline``: the cpu preset's recipe before this benchmark existed (linear schedule, L_simple).
- ``course``: the cpu preset's recipe today (:func:`ddpm_lib.config.get_preset`).
- ``latent``: the course recipe on the shipped autoencoder's 4x8x8 latents with the preset's latent
  UNet (:mod:`ddpm_lib.latent`, notebook 09); the budget pays for the UNet's training only, as the
  autoencoder is trained once (``make pretrained-latent``) and shared by every latent model.
- ``peer``: the class-conditioned MNIST example of the Hugging Face diffusion course: a
  ``diffusers`` ``UNet2DModel`` (widths 32-64-64, two layers per block, attention in the two lower
  blocks, a 4-dimensional class embedding concatenated to the input), ``DDPMScheduler`` with the
  cosine (``squaredcos_cap_v2``) schedule, Adam at lr 1e-3, batch 128, no EMA, no guidance.
- variants: ``label:field=value,...`` is the course recipe with :func:`~ddpm_lib.config.get_preset`
  overrides, e.g. ``minsnr:train_min_snr_gamma=5`` (how the README's rejected ideas were measured).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import torch
import torch.nn.functional as F
from torch import nn

from ddpm_lib.bench import machine, matmul_peak, timed_rate, training_rate
from ddpm_lib.config import ModelConfig, Preset, get_preset, scaled_warmup
from ddpm_lib.checkpoint import find_checkpoint
from ddpm_lib.course import preset_model
from ddpm_lib.data import ImageDataset, load_dataset
from ddpm_lib.evaluate import judge_model
from ddpm_lib.files import atomic_write_json, atomic_write_text, check_output_path
from ddpm_lib.latent import LatentCodec, latent_dataset, latent_recipe, load_codec
from ddpm_lib.paths import AUTOENCODER_PATH
from ddpm_lib.runtime import autocast, choose_device, resolve_precision, seeded
from ddpm_lib.generation import sampler_name
from ddpm_lib.schedule import NoiseSchedule
from ddpm_lib.train import batch_indices, train
from ddpm_lib.validate import FLOW_SAMPLERS, MIN_EVAL_SAMPLES, SamplerName, check_num_samples, check_number, check_sampler

# The cpu preset's recipe before this benchmark (commit 12e5ab2), kept fixed as the reference line.
BASELINE: dict[str, Any] = {"schedule": "linear", "train_lr": 1e-3, "train_batch_size": 128, "train_warmup_steps": 100,
                            "train_steps": 850, "train_min_snr_gamma": 0.0, "train_ema_decay": 0.999,
                            "model_base_channels": 32, "model_channel_mults": (1, 2, 4, 8), "guidance_scale": 3.0}
PEER_LR = 1e-3
PEER_BATCH = 128
PEER_CLASS_EMB = 4


@dataclass(frozen=True)
class Recipe:
    """A named way to train: ``get_preset("cpu", **overrides)`` for the course's UNet, or the peer."""

    name: str
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)
    peer: bool = False
    latent: bool = False

    def preset(self, base: str = "cpu") -> Preset:
        """The preset it trains with: for a latent recipe, the one whose model is the latent UNet."""
        preset = get_preset(base, **self.overrides)
        return latent_recipe(preset).preset if self.latent else preset


RECIPES: dict[str, Recipe] = {
    "baseline": Recipe("baseline", "cpu preset before the benchmark: linear schedule, L_simple", BASELINE),
    "course": Recipe("course", "cpu preset today"),
    "latent": Recipe("latent", "cpu preset today on the shipped autoencoder's 4x8x8 latents (notebook 09)", latent=True),
    "peer": Recipe("peer", "Hugging Face course: diffusers UNet2DModel 32-64-64, DDPMScheduler", peer=True),
}


def parse_recipe(text: str) -> Recipe:
    """A built-in name (:data:`RECIPES`) or a variant ``label:field=value,...`` of the course recipe.

    Values are read as Python literals where they parse (``5``, ``2e-3``, ``(1, 2, 2)``, ``True``),
    else kept as text (``cosine``); the preset validates every field and value before any training.
    """
    if text in RECIPES:
        return RECIPES[text]
    label, sep, body = text.partition(":")
    if not sep or not label or not body:
        raise ValueError(f"recipe {text!r} is neither one of {', '.join(RECIPES)} nor a variant 'label:field=value,...' "
                         f"(e.g. 'minsnr:train_min_snr_gamma=5')")
    overrides: dict[str, Any] = {}
    for item in _split_top(body):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"recipe {text!r}: {item!r} is not field=value (e.g. train_lr=2e-3)")
        try:
            overrides[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value.strip()
    recipe = Recipe(label, ", ".join(f"{k}={v}" for k, v in overrides.items()), overrides)
    recipe.preset()  # validates names and values now
    return recipe


def _split_top(body: str) -> list[str]:
    """Split on commas outside parentheses: 'a=1,b=(1, 2)' -> ['a=1', 'b=(1, 2)']."""
    items, depth, cur = [], 0, ""
    for ch in body:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    return items + [cur]


def check_recipe_sampler(name: str, steps: int, num_timesteps: int) -> None:
    """:func:`check_sampler`, and a sampler of DDPMs: every recipe here trains an eps model, which euler and heun
    (flow matching's samplers) cannot sample."""
    check_sampler(name, steps, num_timesteps)
    if name in FLOW_SAMPLERS:
        raise ValueError(f"the {name} sampler integrates a flow-matching model's velocity; the quality benchmark "
                         f"trains DDPM (eps) recipes: use ddpm, ddim or dpm++")


def parse_samplers(text: str, num_timesteps: int = 1000) -> list[tuple[SamplerName, int]]:
    """'ddim:50,dpm++:15' -> [("ddim", 50), ("dpm++", 15)], each checked by :func:`check_sampler`."""
    out: list[tuple[SamplerName, int]] = []
    for item in text.split(","):
        name, sep, steps = item.strip().partition(":")
        if not sep or not steps.strip().isdigit():
            raise ValueError(f"sampler {item!r} must be name:steps, e.g. ddim:50 or dpm++:15")
        check_recipe_sampler(name, int(steps), num_timesteps)
        out.append((name, int(steps)))  # type: ignore[arg-type]
    return out


def parse_budgets(text: str) -> list[float]:
    """'2,4,8' (minutes) -> [2.0, 4.0, 8.0]; each a number of minutes > 0."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"budgets {text!r} must be minutes separated by commas, e.g. 2,4,8") from None
    return [check_budget(v) for v in values]


def check_budget(minutes: float) -> float:
    """A training budget in minutes, more than 0 and at most 600 (ten hours), else ``ValueError``."""
    return check_number("budget (minutes)", minutes, 0.0, 600.0, low_open=True)


class PeerUNet(nn.Module):
    """The Hugging Face course's class-conditioned UNet, as a course noise predictor eps(x, t, labels).

    forward(x: (B, 1, 32, 32), t: (B,), labels: (B,)) -> (B, 1, 32, 32). The class embedding (4
    numbers) is broadcast over the image and concatenated to it as 4 extra input channels. It has
    no null label, so it samples with guidance w = 1 (plain conditional), as that example does.
    """

    def __init__(self, num_classes: int = 10, class_emb_size: int = PEER_CLASS_EMB) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.num_classes = num_classes
        self.in_channels = 1
        self.class_emb = nn.Embedding(num_classes, class_emb_size)
        self.model = UNet2DModel(sample_size=32, in_channels=1 + class_emb_size, out_channels=1, layers_per_block=2,
                                 block_out_channels=(32, 64, 64),
                                 down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                                 up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"))

    @property
    def null_label(self) -> int:
        raise ValueError("the peer model has no null label: sample it with guidance 1 (plain conditional), as the "
                         "Hugging Face example does")

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("the peer model is class-conditional only: pass labels (and guidance 1)")
        b, _, h, w = x.shape
        cond = self.class_emb(labels).to(x.dtype).reshape(b, -1, 1, 1).expand(b, -1, h, w)
        out: torch.Tensor = self.model(torch.cat([x, cond], dim=1), t).sample
        return out


def peer_schedule() -> NoiseSchedule:
    """The course's cosine schedule at T = 1000: the same alpha_bar as ``DDPMScheduler(squaredcos_cap_v2)``."""
    return NoiseSchedule(1000, "cosine")


def peer_step(model: PeerUNet, optimizer: torch.optim.Optimizer, schedule: NoiseSchedule, x0: torch.Tensor,
              labels: torch.Tensor, generator: torch.Generator, precision: str) -> float:
    """One step of the peer's loop: t ~ U{0..T-1}, eps ~ N(0, I), MSE(eps_theta(x_t, t, y), eps), Adam."""
    t = torch.randint(0, schedule.num_timesteps, (x0.shape[0],), generator=generator, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    with autocast(x0.device, resolve_precision(precision, x0.device)):
        loss = F.mse_loss(model(schedule.q_sample(x0, t, noise), t, labels).float(), noise)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _peer_trainer(data: ImageDataset, device: torch.device, seed: int, precision: str,
                  batch: int) -> tuple[PeerUNet, Callable[[int], float]]:
    """A fresh peer model and its training step ``step(k)`` on batch k of ``data`` (the course's data order)."""
    with seeded(seed):
        model = PeerUNet().to(device).to(memory_format=torch.channels_last)
    schedule = peer_schedule().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=PEER_LR)
    g = torch.Generator(device=device).manual_seed(seed)
    model.train()

    def step(k: int) -> float:
        idx = batch_indices(k, len(data), batch, seed)
        x0 = data.images[idx].to(device).contiguous(memory_format=torch.channels_last)
        return peer_step(model, optimizer, schedule, x0, data.labels[idx].to(device), g, precision)

    return model, step


def train_peer(data: ImageDataset, steps: int, device: torch.device, seed: int = 0, precision: str = "auto",
               batch: int = PEER_BATCH) -> PeerUNet:
    """Train :class:`PeerUNet` for ``steps`` batches; returns it in eval mode."""
    model, step = _peer_trainer(data, device, seed, precision, batch)
    for k in range(steps):
        step(k)
    return model.eval()


def peer_rate(data: ImageDataset, device: torch.device, seconds: float, batch: int = PEER_BATCH) -> float:
    """Training images/s of the peer's own training step, on a throwaway model."""
    _, step = _peer_trainer(data, device, 0, "auto", batch)
    counter = itertools.count()
    return timed_rate(lambda: step(next(counter)), batch, seconds)


def steps_for(budget_seconds: float, images_per_second: float, batch: int) -> int:
    """Training steps that fill ``budget_seconds`` at the measured rate (at least 1)."""
    return max(1, round(budget_seconds * images_per_second / batch))


@dataclass
class Trained:
    """A recipe trained for one budget: the model to sample, its schedule, guidance and cost (and, for a latent
    recipe, the codec that decodes its samples)."""

    model: nn.Module
    schedule: NoiseSchedule
    guidance: float
    steps: int
    batch: int
    seconds: float
    decoder: LatentCodec | None = None


def recipe_data(recipe: Recipe, data: ImageDataset, device: torch.device) -> tuple[ImageDataset, LatentCodec | None]:
    """What ``recipe`` trains on: the images, or for a latent recipe their latents under the shipped codec."""
    if not recipe.latent:
        return data, None
    codec, _ = load_codec(find_checkpoint(AUTOENCODER_PATH), device)
    return latent_dataset(codec, data), codec


def train_recipe(recipe: Recipe, budget_minutes: float, rate: float, data: ImageDataset, device: torch.device,
                 seed: int = 0, base: str = "cpu", decoder: LatentCodec | None = None) -> Trained:
    """Train ``recipe`` from scratch for the steps ``budget_minutes`` buys at ``rate`` images/s.

    ``data`` is what :func:`recipe_data` gives for it (a latent recipe's latents, with their ``decoder``),
    encoded once by the caller for every budget."""
    t0 = time.perf_counter()
    if recipe.peer:
        steps = steps_for(60 * budget_minutes, rate, PEER_BATCH)
        return Trained(train_peer(data, steps, device, seed), peer_schedule(), 1.0, steps, PEER_BATCH,
                       time.perf_counter() - t0)
    preset = recipe.preset(base)
    steps = steps_for(60 * budget_minutes, rate, preset.train.batch_size)
    preset = replace(preset, train=replace(preset.train, steps=steps, warmup_steps=scaled_warmup(preset, steps),
                                           seed=seed, checkpoint_every=steps))
    model, schedule = preset_model(preset, seed)
    result = train(model, schedule, data, preset.train, device=device, progress=False)
    return Trained(result.ema.model.eval(), schedule, preset.guidance_scale, steps, preset.train.batch_size,
                   time.perf_counter() - t0, decoder)


def recipe_rate(recipe: Recipe, data: ImageDataset, device: torch.device, seconds: float, base: str = "cpu") -> float:
    """Training images/s of ``recipe`` on this machine, measured on a fresh model with inputs the size of ``data``'s
    (:func:`recipe_data`: 32x32 images, or a latent recipe's latents)."""
    if recipe.peer:
        return peer_rate(data, device, seconds)
    p = recipe.preset(base)
    return training_rate(p.model, p.train.batch_size, p.train.precision, p.train.channels_last, device, seconds,
                         side=int(data.images.shape[-1]))


def format_quality_table(rows: Sequence[dict[str, Any]]) -> str:
    """The Markdown table the README shows: one line per recipe, budget and sampler."""
    head = ("| recipe | budget (min) | trained (s) | steps | images seen | sampler | accuracy | FD | FD / floor | grain |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    lines = [f"| {r['recipe']} | {r['budget_minutes']:g} | {r['train_seconds']:.0f} | {r['steps']} | "
             f"{r['images_seen']:,} | {r['sampler']} | {r['accuracy']:.3f} | {r['frechet']:.3f} | "
             f"{r['frechet_ratio']:.2f} | {'-' if r.get('grain') is None else format(r['grain'], '.4f')} |" for r in rows]
    return "\n".join([head, *lines])


def plot_quality(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Quality against training minutes: FD / floor (left, log scale) and accuracy (right), one line per recipe."""
    from ddpm_lib.viz import save_figure

    fig, (ax_fd, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        series.setdefault((r["recipe"], r["sampler"]), []).append(r)
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    colours = {name: f"C{i}" for i, name in enumerate(recipes)}
    styles = {name: ("-", "--", ":", "-.")[i % 4] for i, name in enumerate(samplers)}
    for (recipe, sampler), pts in series.items():
        pts = sorted(pts, key=lambda r: r["budget_minutes"])
        minutes = [r["train_seconds"] / 60 for r in pts]
        kw = dict(color=colours[recipe], linestyle=styles[sampler], marker="o", label=f"{recipe}, {sampler}")
        ax_fd.plot(minutes, [r["frechet_ratio"] for r in pts], **kw)
        ax_acc.plot(minutes, [100 * r["accuracy"] for r in pts], **kw)
    ax_fd.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax_fd.yaxis.set_major_formatter(plain)
    ax_fd.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "25" else ""))
    ax_fd.set_ylabel("Frechet distance / real-digit floor (lower is better)")
    ax_acc.set_ylabel("judge accuracy (%)")
    for ax in (ax_fd, ax_acc):
        ax.set_xlabel("training minutes on this machine")
        ax.grid(alpha=0.3, which="both")
    handles, labels = ax_acc.get_legend_handles_labels()  # below both panels, where it hides no point
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(4, len(labels)))
    fig.suptitle("Time to quality: each point is a model trained from scratch for that budget", fontsize=11)
    fig.tight_layout(rect=(0, 0.05 * -(-len(labels) // 4) + 0.02, 1, 1))
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def run_quality(budgets: Sequence[float] = (4.0, 8.0), recipes: Sequence[Recipe] | None = None,
                samplers: Sequence[tuple[SamplerName, int]] = (("dpm++", 15),), num_samples: int = 500,
                out: str | Path = "data/quality", seed: int = 0, device: str | None = None,
                rate_seconds: float = 4.0, base: str = "cpu", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every recipe for every budget and score it; writes quality.json, .md and .png into ``out``.

    The course's recipes are variations of preset ``base`` (the tests use ``smoke``).

    Every argument is checked (and the output folder tried) before the first measurement. The JSON
    is rewritten after each trained model, so an interrupted run keeps what it measured.
    """
    recipes = list(recipes if recipes is not None else RECIPES.values())
    if not recipes or not budgets or not samplers:
        raise ValueError("give at least one recipe, one budget and one sampler")
    names = [r.name for r in recipes]
    if len(set(names)) != len(names):
        raise ValueError(f"recipe names must differ, got {names}")
    for b in budgets:
        check_budget(b)
    shortest_t = min(1000 if r.peer else r.preset(base).num_timesteps for r in recipes)  # validates each recipe
    for sampler, steps in samplers:
        check_recipe_sampler(sampler, steps, shortest_t)
    check_num_samples(num_samples)
    if any(r.peer for r in recipes):
        try:
            import diffusers  # noqa: F401
        except ImportError:
            raise ValueError("the peer recipe needs diffusers: pip install -e '.[bench]' (or leave 'peer' out)") from None
    out = Path(out)
    paths = {ext: out / f"quality.{ext}" for ext in ("json", "md", "png")}
    for ext, p in paths.items():
        check_output_path(p, f"quality {ext} file", option="--out")
    dev = choose_device(device)
    data = load_dataset("mnist-5k", "train")
    peak = {"fp32": round(matmul_peak(torch.float32, dev)), "bf16": round(matmul_peak(torch.bfloat16, dev))}
    log(f"matmul peak: fp32 {peak['fp32']} GFLOP/s, bf16 {peak['bf16']} GFLOP/s")
    result: dict[str, Any] = {
        "command": "quality", "machine": machine(dev),
        "matmul_gflops": peak, "num_samples": num_samples, "seed": seed, "base_preset": base,
        "recipes": {r.name: {"description": r.description, "overrides": {k: str(v) for k, v in r.overrides.items()}}
                    for r in recipes},
        "rows": []}
    for recipe in recipes:
        recipe_inputs, decoder = recipe_data(recipe, data, dev)
        rate = recipe_rate(recipe, recipe_inputs, dev, rate_seconds, base)
        result["recipes"][recipe.name]["train_images_per_second"] = round(rate, 1)
        log(f"{recipe.name}: {rate:.0f} training images/s")
        for budget in budgets:
            trained = train_recipe(recipe, budget, rate, recipe_inputs, dev, seed, base, decoder)
            for sampler, steps in samplers:
                scores = judge_model(trained.model, trained.schedule, num_samples=num_samples, steps=steps,
                                     guidance_scale=trained.guidance, sampler=sampler,
                                     generator=torch.Generator().manual_seed(seed), progress=False,
                                     decoder=trained.decoder)
                row = {"recipe": recipe.name, "budget_minutes": budget, "train_seconds": round(trained.seconds, 1),
                       "steps": trained.steps, "images_seen": trained.steps * trained.batch,
                       "sampler": sampler_name(sampler, steps, trained.schedule.num_timesteps),
                       "guidance": trained.guidance, "accuracy": round(scores["accuracy"], 4),
                       "frechet": round(scores["frechet"], 4), "frechet_floor": round(scores["frechet_floor"], 4),
                       "frechet_ratio": round(scores["frechet"] / scores["frechet_floor"], 3),
                       "grain": round(scores["grain"], 5)}
                result["rows"].append(row)
                log(f"  {budget:g} min ({trained.steps} steps, {trained.seconds:.0f} s), {row['sampler']}: "
                    f"accuracy {row['accuracy']:.3f}, FD {row['frechet']:.3f} = {row['frechet_ratio']:.2f}x floor")
            atomic_write_json(paths["json"], result)
    atomic_write_text(paths["md"], format_quality_table(result["rows"]) + "\n")
    plot_quality(result["rows"], paths["png"])
    result["files"] = {k: str(v) for k, v in paths.items()}
    atomic_write_json(paths["json"], result)
    return result


def peer_bench_rate(config: ModelConfig, batch: int, device: torch.device, seconds: float) -> dict[str, Any]:
    """Training img/s of diffusers' UNet2DModel at ``config``'s widths with the course's fast path (the bench extra)."""
    from diffusers import UNet2DModel

    widths = tuple(config.base_channels * m for m in config.channel_mults)
    with seeded(0):
        peer = UNet2DModel(sample_size=32, in_channels=1, out_channels=1, block_out_channels=widths, layers_per_block=1,
                           down_block_types=("DownBlock2D",) * (len(widths) - 1) + ("AttnDownBlock2D",),
                           up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (len(widths) - 1),
                           num_class_embeds=11).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(peer.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 1000, (batch,), device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    prec = resolve_precision("auto", device)

    def step() -> None:
        with autocast(device, prec):
            loss = (peer(x, t, class_labels=y).sample.float() - x).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"parameters": sum(p.numel() for p in peer.parameters()), "train_img_s_fast": round(timed_rate(step, batch, seconds), 1)}


def main(argv: Sequence[str] | None = None) -> int:
    from ddpm_lib.__main__ import add_common, argument, checked_run, whole
    from ddpm_lib.bench import TABLE1

    p = argparse.ArgumentParser(prog="python -m tools.quality", description=__doc__.splitlines()[0])
    p.add_argument("--budgets", type=argument(str, lambda v: parse_budgets(str(v))), default=[4.0, 8.0],
                   help="training minutes per model, e.g. 2,4,8 (default 4,8); every recipe trains once per budget")
    p.add_argument("--recipes", type=argument(str, lambda text: [parse_recipe(r) for r in str(text).split("+")]),
                   default=list(RECIPES.values()),
                   help=f"recipes joined by '+': {', '.join(RECIPES)} (default all), or a variant of the course "
                        f"recipe 'label:field=value,...' such as 'minsnr:train_min_snr_gamma=5'")
    p.add_argument("--samplers", type=argument(str, lambda v: parse_samplers(str(v))), default=[("dpm++", 15)],
                   help="name:steps list scoring each model, e.g. ddim:50,dpm++:15 (default dpm++:15)")
    p.add_argument("--num-samples", type=whole(MIN_EVAL_SAMPLES), default=500, help="samples per score (default 500)")
    p.add_argument("--out", type=Path, default=Path("data/quality"),
                   help="folder for quality.json, quality.md and quality.png (default data/quality)")
    p.add_argument("--peer-bench", action="store_true",
                   help="only time diffusers' UNet2DModel at the Table 1 widths (training img/s) and stop")
    add_common(p)
    # "--budgets -1,2" would read as an option: join such a value to its flag, so that the check can refuse it
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv[:-1]):
        if arg == "--budgets" and argv[i + 1].startswith("-"):
            argv[i:i + 2] = [f"--budgets={argv[i + 1]}"]
            break
    args = p.parse_args(argv)

    def run() -> dict[str, Any]:
        if args.peer_bench:
            rate = peer_bench_rate(TABLE1, 64, choose_device(args.device), 8.0)
            print(f"peer (diffusers UNet2DModel, Table 1 widths): {rate}")
            return rate
        result = run_quality(args.budgets, args.recipes, args.samplers, args.num_samples, args.out, args.seed,
                             args.device)
        print(f"wrote {', '.join(result['files'].values())}")
        return result

    return checked_run(run, args.json)


if __name__ == "__main__":
    sys.exit(main())
