"""The capstone: the blocks of ``quest_12_2.py`` written by the learner, each checked on fixed inputs, and the
file assembled from them.

The learner writes five blocks under the names the script uses (``SinusoidalPositionEmbeddings``, ``Block``,
``linear_beta_schedule``, ``get_loss``, ``sample_step``); :func:`assemble` copies the reference file and puts
in each block whose check passes, read from the notebook cell that defined it.
"""

from __future__ import annotations

import ast
import linecache
import types
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ddpm_lib.files import atomic_write_text
from ddpm_lib.schedule import NoiseSchedule

from .core import Exercise, Verdict, judge_output
from .implement import SINUSOIDAL_EMBEDDING
from .predict import judge_number, within


# -- the five blocks ------------------------------------------------------------------------------
def _embedding(cls: Callable[[int], Callable[[torch.Tensor], torch.Tensor]]) -> Verdict:
    return SINUSOIDAL_EMBEDDING.evaluate(lambda t, dim: cls(dim)(t))


QUEST_EMBEDDING = Exercise(
    "the file's timestep embedding", "implement",
    "Write SinusoidalPositionEmbeddings.forward(t): (B,) levels -> (B, dim), sines first; then run this cell again.",
    _embedding, hints=SINUSOIDAL_EMBEDDING.hints, mistakes=SINUSOIDAL_EMBEDDING.mistakes)


def _block(cls: Callable[..., Any]) -> Verdict:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        try:
            block = cls(8, 16, 12, groups=4)
        except NotImplementedError:
            return Verdict("untouched")
        except Exception as err:  # the learner changed __init__
            return Verdict("wrong", detail=f"Block(8, 16, 12, groups=4) raised {type(err).__name__}: {err}.")
    g = torch.Generator().manual_seed(11)
    x, emb = torch.randn(2, 8, 6, 6, generator=g), torch.randn(2, 12, generator=g)
    with torch.no_grad():
        try:
            h = block.conv1(F.silu(block.norm1(x)))
            scale, shift = block.emb_proj(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
            skip = block.skip(x)
        except AttributeError as err:
            return Verdict("wrong", detail=f"Keep the layers of the given __init__ ({err}).")
        right = block.conv2(F.silu(block.norm2(h) * (1 + scale) + shift)) + skip
        mistakes = {"no_time": block.conv2(F.silu(block.norm2(h))) + skip,
                    "no_skip": block.conv2(F.silu(block.norm2(h) * (1 + scale) + shift)),
                    "before_norm": block.conv2(F.silu(block.norm2(h * (1 + scale) + shift))) + skip}
        return judge_output(lambda: block(x, emb), right, mistakes)


QUEST_BLOCK = Exercise(
    "the file's Block", "implement",
    "Write Block.forward(x, emb): x (B, c_in, H, W) and emb (B, E) -> (B, c_out, H, W), with the layers the "
    "given __init__ builds; then run this cell again.",
    _block,
    hints=("Two convolutions, each after GroupNorm and SiLU; the time enters between them; the input comes back "
           "at the end through the skip.",
           "emb_proj turns the embedding into one scale and one shift per channel; give them two trailing axes so "
           "that they broadcast over H and W."),
    mistakes={"no_time": "The time embedding never reaches the output: modulate the normalised features with "
                         "the scale and the shift from emb_proj.",
              "no_skip": "The skip connection is missing: add skip(x) to the output.",
              "before_norm": "The scale and shift are applied before norm2, which normalises them away; apply them "
                             "after it (AdaGN, notebook 03)."})


def _schedule(fn: Callable[[int], Sequence[torch.Tensor]]) -> Verdict:
    def stacked(parts: Callable[[int], Sequence[torch.Tensor]]) -> torch.Tensor:
        return torch.cat([torch.stack([torch.as_tensor(p).double() for p in parts(n)]) for n in (1000, 100)], dim=1)

    def library(n: int) -> list[torch.Tensor]:
        s = NoiseSchedule(n)
        return [s.betas, s.alphas, s.alphas_cumprod]

    def unscaled(n: int) -> list[torch.Tensor]:
        b = torch.linspace(1e-4, 0.02, n, dtype=torch.float64)
        return [b, 1 - b, torch.cumprod(1 - b, 0)]

    def exclusive(n: int) -> list[torch.Tensor]:
        b, a, ab = library(n)
        return [b, a, torch.cat([torch.ones(1), ab[:-1]])]

    return judge_output(lambda: stacked(fn), stacked(library), {"unscaled": stacked(unscaled),
                                                                 "exclusive": stacked(exclusive)},
                        rows=("betas", "alphas", "alpha_bar"))


QUEST_SCHEDULE = Exercise(
    "the file's schedule", "implement",
    "Write linear_beta_schedule(num_timesteps): (betas, alphas, alpha_bar), three (T,) tensors; then run this "
    "cell again.",
    _schedule,
    hints=("Ho et al.'s betas run evenly from 1e-4 to 0.02 for T = 1000; the check also asks for T = 100, where the "
           "file scales both ends by 1000 / T so that the chain still ends in noise.",
           "alpha_bar at level t includes alpha_t itself: the product runs up to and including t."),
    mistakes={"unscaled": "Right for T = 1000, but at T = 100 the betas must be scaled by 1000 / T: unscaled, the "
                          "chain ends with signal left.",
              "exclusive": "alpha_bar is shifted by one level: the product must include alpha_t itself (the paper's "
                           "alpha_bar_t is prod_{s<=t}), not stop before it."})


def _model(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return 0.3 * x + t.float().reshape(-1, 1, 1, 1) / 1000 + labels.float().reshape(-1, 1, 1, 1) / 100


def _loss(fn: Callable[..., torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(12)
    alpha_bar = NoiseSchedule(1000).alphas_cumprod
    x0, eps = torch.rand(4, 1, 4, 4, generator=g) * 2 - 1, torch.randn(4, 1, 4, 4, generator=g)
    t, labels = torch.tensor([3, 40, 400, 990]), torch.tensor([1, 4, 10, 7])
    a = alpha_bar[t][:, None, None, None]
    per_image = (_model(a.sqrt() * x0 + (1 - a).sqrt() * eps, t, labels) - eps).square().flatten(1).mean(1)
    snr = alpha_bar[t] / (1 - alpha_bar[t])
    weight = snr.clamp(max=5.0) / snr
    return judge_output(lambda: fn(_model, alpha_bar, x0, t, labels, eps), (weight * per_image).mean(), {
        "unweighted": per_image.mean(), "x0_weight": (snr.clamp(max=5.0) * per_image).mean()})


QUEST_LOSS = Exercise(
    "the file's loss", "implement",
    "Write get_loss(model, alpha_bar, x0, t, labels, eps): the min-SNR-5 weighted loss of Algorithm 1, a scalar; "
    "then run this cell again.",
    _loss,
    hints=("Noise x0 to level t in one line (notebook 02), ask the model for the noise, and take each image's mean "
           "squared error.",
           "Each image's error is weighted by min(SNR_t, 5) / SNR_t, with SNR_t = alpha_bar_t / (1 - alpha_bar_t), "
           "before the batch mean (notebook 04)."),
    mistakes={"unweighted": "That is plain L_simple: the file weights each image's error by min(SNR_t, 5) / SNR_t.",
              "x0_weight": "min(SNR_t, 5) weights the clean-image error; the noise error is divided by SNR_t once "
                           "more."})


def _step(fn: Callable[..., torch.Tensor]) -> Verdict:
    g = torch.Generator().manual_seed(13)
    s = NoiseSchedule(1000)
    x_t, eps, z = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
    t = 500
    beta, a, a_prev = s.betas[t], s.alphas_cumprod[t], s.alphas_cumprod[t - 1]
    mean = (x_t - beta / (1 - a).sqrt() * eps) / (1 - beta).sqrt()
    return judge_output(lambda: fn(s.betas, s.alphas_cumprod, x_t, eps, t, z), mean + beta.sqrt() * z, {
        "posterior_sigma": mean + (beta * (1 - a_prev) / (1 - a)).sqrt() * z,
        "alpha_bar_mean": (x_t - beta / (1 - a).sqrt() * eps) / a.sqrt() + beta.sqrt() * z,
        "no_noise": mean})


QUEST_STEP = Exercise(
    "the file's sampling step", "implement",
    "Write sample_step(betas, alpha_bar, x_t, eps, t, z): one step of Algorithm 2 at the integer level t, "
    "sigma_t^2 = beta_t; then run this cell again.",
    _step,
    hints=("Remove the scaled noise estimate from x_t, undo the step's shrink, then add fresh noise of variance "
           "beta_t (notebook 05).",
           "The shrink to undo is that of one step, sqrt(alpha_t) = sqrt(1 - beta_t), not the whole chain's."),
    mistakes={"posterior_sigma": "That adds noise of variance beta~_t; the file uses sigma_t^2 = beta_t (both work, "
                                 "notebook 05, but the check compares with the file).",
              "alpha_bar_mean": "The mean divides by sqrt(alpha_bar_t), the whole chain's shrink; one step back "
                                "undoes one step's, sqrt(alpha_t).",
              "no_noise": "No fresh noise: the step must add sigma_t z (the loop passes z = 0 at its last step)."})


def _quest_accuracy(prediction: Any, measured: float, steps: int) -> Verdict:
    why = (f"After {steps} training steps the judge read {measured:.0%} of your file's digits as the digit asked for. "
           "The reference's full run and the library's Quest, below, show what longer training and the latent "
           "fast path add.")
    return judge_number(prediction, measured, valid=(0.0, 1.0, "a share between 0 and 1, so 40% is 0.4"),
                        agree=within(0.2, ".0%", "20 points"), fmt=".0%",
                        above="a short run draws many digits the judge cannot read yet.",
                        below="guidance makes even a short run's digits legible.", why=why)


QUEST_ACCURACY = Exercise(
    "predict: your file's accuracy", "predict, then run",
    "Before your file runs, set predicted_accuracy to the share (0 to 1) of its digits you expect the judge to "
    "read as the digit asked for.",
    _quest_accuracy, hints=())


BLOCKS: dict[str, Exercise] = {"SinusoidalPositionEmbeddings": QUEST_EMBEDDING, "Block": QUEST_BLOCK,
                               "linear_beta_schedule": QUEST_SCHEDULE, "get_loss": QUEST_LOSS,
                               "sample_step": QUEST_STEP}
ALL: tuple[Exercise, ...] = (*BLOCKS.values(), QUEST_ACCURACY)


# -- assembling the file --------------------------------------------------------------------------
def definition(source: str, name: str) -> tuple[int, int]:
    """The first and last line (1-based) of the top-level ``def`` or ``class`` ``name`` in ``source``."""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return first, node.end_lineno or node.lineno
    raise ValueError(f"no top-level def or class named {name!r}")


def cell_source(obj: Any) -> str:
    """The source of a function or class defined in a notebook cell, read from the cell the kernel compiled."""
    code = obj.__code__ if isinstance(obj, types.FunctionType) else next(
        v.__code__ for v in vars(obj).values() if isinstance(v, types.FunctionType))
    source = "".join(linecache.getlines(code.co_filename))
    first, last = definition(source, obj.__name__)
    return "\n".join(source.splitlines()[first - 1:last])


def assemble(yours: Sequence[Any], reference: str | Path, out: str | Path) -> list[str]:
    """Write ``out``: the reference file with each of ``yours`` (blocks named as in :data:`BLOCKS`) put in place of
    its block when its check passes. Returns one line per block saying whose version the file holds."""
    text = Path(reference).read_text(encoding="utf-8")
    given = {getattr(obj, "__name__", ""): obj for obj in yours}
    unknown = set(given) - set(BLOCKS)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not blocks you write; the blocks are {', '.join(BLOCKS)}")
    report = []
    for name, exercise in BLOCKS.items():
        obj = given.get(name)
        verdict = exercise.evaluate(obj) if obj is not None else Verdict("untouched")
        if verdict.status != "correct":
            why = "not attempted" if verdict.status == "untouched" else "its check does not pass yet"
            report.append(f"{name}: the reference's ({why})")
            continue
        first, last = definition(text, name)
        lines = text.splitlines()
        text = "\n".join([*lines[:first - 1], cell_source(obj), *lines[last:]]) + "\n"
        report.append(f"{name}: yours")
    atomic_write_text(out, text)
    return report


def imported_modules(path: str | Path) -> list[str]:
    """The top-level modules a Python file imports (``torch``, ``os``, ...), sorted."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return sorted(found)


def picture_digits(path: str | Path, padding: int = 2, side: int = 32) -> torch.Tensor:
    """The digits of a picture the file wrote, a grid of ``side`` x ``side`` tiles ``padding`` pixels apart (as
    torchvision's ``make_grid`` lays them out), row by row: (N, 1, side, side) in [-1, 1]."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as picture:
        grid = torch.from_numpy(np.asarray(picture.convert("L"), dtype=np.float32)) / 127.5 - 1
    step = side + padding
    rows, cols = (grid.shape[0] - padding) // step, (grid.shape[1] - padding) // step
    tiles = [grid[padding + r * step:padding + r * step + side, padding + c * step:padding + c * step + side]
             for r in range(rows) for c in range(cols)]
    return torch.stack(tiles)[:, None]
