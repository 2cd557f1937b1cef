"""Pictures: image grids, noising strips, denoising animations, loss curves; atomic PNG writes.

Images come in the model range [-1, 1]. What a notebook shows must read well where no script runs (untrusted,
exported, on a slide): :func:`live_figure` draws a widget-driven figure as a PNG its controls redraw, and
:func:`trajectory_gif` makes the denoising animation a GIF.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .files import atomic_path
from .data import to_unit
from .generation import LatentDecoder
from .sample import StepInfo
from .schedule import NoiseSchedule

CMAP = "gray"


# -- what a sampler run looked like (recorded through the samplers' callback) ---------------------------
@dataclass
class Trajectory:
    """What the sampler saw at each of S network evaluations (CPU, float32): timesteps (S,), xt (S, B, ...) the model's
    input, x0 (S, B, ...) its estimate of x_0, sample (B, ...) the last x_prev."""

    timesteps: torch.Tensor
    xt: torch.Tensor
    x0: torch.Tensor
    sample: torch.Tensor


def trajectory(sampler: Callable[..., torch.Tensor], /, *args: Any, **kwargs: Any) -> Trajectory:
    """Run ``sampler(*args, **kwargs)`` recording every step through its ``callback``, e.g.
    ``trajectory(sample_ddim, model, schedule, shape, steps=10)``."""
    ts: list[int] = []
    xts: list[torch.Tensor] = []
    x0s: list[torch.Tensor] = []
    last: list[torch.Tensor] = []

    def record(step: StepInfo) -> None:
        ts.append(step.t)
        xts.append(step.x_t.detach().float().cpu())
        x0s.append(step.x0_hat.detach().float().cpu())
        last[:] = [step.x_prev]

    sampler(*args, callback=record, **kwargs)
    if not last:
        raise ValueError("the sampler made no steps")
    return Trajectory(torch.tensor(ts), torch.stack(xts), torch.stack(x0s), last[0].detach().float().cpu())


def decoded(traj: Trajectory, decoder: LatentDecoder) -> Trajectory:
    """A latent model's trajectory as images: x_t, x0_hat and the sample, (S, B, c, s, s) -> (S, B, C, H, W), each
    through ``decoder`` (a decoded x_t at high noise is the decoder's reading of noise, not noise itself)."""
    steps, batch = traj.xt.shape[:2]

    def images(z: torch.Tensor) -> torch.Tensor:
        x = decoder.decode(z.flatten(0, 1))
        return x.reshape(steps, batch, *x.shape[1:])

    return Trajectory(traj.timesteps, images(traj.xt), images(traj.x0), decoder.decode(traj.sample))


def image_grid(images: torch.Tensor, nrow: int = 10, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """Tile (N, C, H, W) images in [-1, 1] into one (H', W', C) array in [0, 1] with ``nrow`` per row."""
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    grid = torch.full((c, rows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    x = to_unit(images.detach().float().cpu())
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = x[i]
    return grid.permute(1, 2, 0)


def show_images(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax: Axes | None = None,
                row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None) -> Axes:
    """Draw a grid of images on ``ax`` (a new figure if None), optionally labelling rows/columns."""
    grid = image_grid(images, nrow)
    if ax is None:
        rows = -(-images.shape[0] // min(nrow, images.shape[0]))
        _, ax = plt.subplots(figsize=(min(nrow, images.shape[0]) * 0.6 + 0.6, rows * 0.6 + 0.4))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
    h, w = images.shape[-2:]
    ax.set_xticks([] if col_labels is None else [2 + (w + 2) * i + w / 2 for i in range(len(col_labels))])
    ax.set_yticks([] if row_labels is None else [2 + (h + 2) * i + h / 2 for i in range(len(row_labels))])
    if col_labels is not None:
        ax.set_xticklabels(col_labels, fontsize=8)
    if row_labels is not None:
        ax.set_yticklabels(row_labels, fontsize=9)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=11)
    return ax


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically (temporary file + os.replace); creates the folder if missing."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return Path(path)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 10, title: str | None = None,
              row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None) -> Path:
    """Save a labelled image grid as PNG, atomically."""
    ax = show_images(images, nrow, title, row_labels=row_labels, col_labels=col_labels)
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def noising_strip(schedule: NoiseSchedule, x0: torch.Tensor, timesteps: Sequence[int],
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """x_t = q_sample(x0, t, eps) for each t, one shared eps: (len(timesteps), C, H, W) for one image x0 (C, H, W)."""
    if x0.ndim != 3:
        raise ValueError(f"x0 must be one image (C, H, W), got {tuple(x0.shape)}")
    n = len(timesteps)
    eps = torch.randn(x0.shape, generator=generator).expand(n, *x0.shape)
    t = torch.as_tensor(list(timesteps), dtype=torch.long)
    return schedule.q_sample(x0.expand(n, *x0.shape), t, eps)


def frame_indices(num_steps: int, num_frames: int) -> list[int]:
    """``num_frames`` step indices spread over 0..num_steps-1, always including the last."""
    num_frames = max(1, min(num_frames, num_steps))
    return sorted({round(i * (num_steps - 1) / max(1, num_frames - 1)) for i in range(num_frames)})


def trajectory_strip(traj: Trajectory, sample: int = 0, num_frames: int = 10, which: str = "xt") -> tuple[torch.Tensor, list[str]]:
    """Frames (F, C, H, W), F <= num_frames, of one sample's trajectory and their "t=..." labels: x_t at evenly spread
    steps and the final sample ("x_0"), or with ``which="x0"`` the model's estimate of x_0 at each of them."""
    if which not in ("xt", "x0"):
        raise ValueError(f"which must be 'xt' or 'x0', got {which!r}")
    if not 0 <= sample < traj.sample.shape[0]:
        raise ValueError(f"sample must be an index in 0..{traj.sample.shape[0] - 1}, got {sample}")
    if which == "x0":
        frames = frame_indices(len(traj.timesteps), num_frames)
        return traj.x0[frames, sample].clamp(-1, 1), [f"t={int(traj.timesteps[i])}" for i in frames]
    frames = frame_indices(len(traj.timesteps), num_frames - 1) if num_frames > 1 else []
    images = torch.cat([traj.xt[frames, sample], traj.sample[sample][None]])
    return images.clamp(-1, 1), [f"t={int(traj.timesteps[i])}" for i in frames] + ["x_0"]


def animate_trajectory(traj: Trajectory, num_frames: int = 20, nrow: int = 10, interval: int = 150) -> animation.FuncAnimation:
    """The reverse process animated: x_t (left) and the predicted x_0 (right) at each shown step."""
    frames = frame_indices(len(traj.timesteps), num_frames)
    first = image_grid(traj.xt[frames[0]].clamp(-1, 1), nrow)
    panel_width = 3.8  # inches per panel; the height follows the grid's shape, plus room for the titles
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(2 * panel_width + 0.4,
                                                    panel_width * first.shape[0] / first.shape[1] + 0.9))
    ims = []
    for ax, data, name in ((ax_l, traj.xt, "x_t"), (ax_r, traj.x0, "predicted x_0")):
        grid = image_grid(data[frames[0]].clamp(-1, 1), nrow)
        ims.append(ax.imshow(grid.squeeze(-1), cmap=CMAP, vmin=0, vmax=1, interpolation="nearest"))
        ax.set_axis_off()
        ax.set_title(name)
    title = fig.suptitle("")

    def draw(k: int) -> list[Any]:
        i = frames[k]
        for im, data in zip(ims, (traj.xt, traj.x0)):
            im.set_data(image_grid(data[i].clamp(-1, 1), nrow).squeeze(-1))
        title.set_text(f"reverse step {i + 1}/{len(traj.timesteps)}, t = {int(traj.timesteps[i])}")
        return [*ims, title]

    fig.tight_layout()
    anim = animation.FuncAnimation(fig, draw, frames=len(frames), interval=interval, blit=False)
    plt.close(fig)
    return anim


def figure_png(draw: Callable[..., Any], dpi: int = 100, **values: Any) -> bytes:
    """Call ``draw(**values)`` (which draws on new matplotlib figures and does not show them) and
    return the last figure as PNG bytes; every figure it made is closed."""
    before = set(plt.get_fignums())
    draw(**values)
    made = [n for n in plt.get_fignums() if n not in before]
    if not made:
        raise ValueError(f"{getattr(draw, '__name__', 'draw')} drew no matplotlib figure")
    buffer = io.BytesIO()
    plt.figure(made[-1]).savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    for n in made:
        plt.close(n)
    return buffer.getvalue()


def live_figure(draw: Callable[..., Any], controls: dict[str, Any], dpi: int = 100) -> Any:
    """``draw(**values)`` shown as a plain PNG (so an untrusted notebook shows it), then the ``controls`` (ipywidgets by
    argument name), each redrawing the PNG in place. Returns the IPython display handle."""
    import ipywidgets as widgets  # the course extra; only notebooks need it
    from IPython.display import Image, display

    def render() -> Image:
        return Image(data=figure_png(draw, dpi=dpi, **{name: w.value for name, w in controls.items()}))

    handle = display(render(), display_id=True)
    for w in controls.values():
        w.observe(lambda change: handle.update(render()), names="value")
    display(widgets.HBox(list(controls.values())))
    return handle


def trajectory_gif(traj: Trajectory, num_frames: int = 12, nrow: int = 5, interval: int = 250, dpi: int = 72) -> bytes:
    """The animation of :func:`animate_trajectory` as GIF bytes: it plays without JavaScript, so an
    untrusted notebook shows it (``IPython.display.Image(data=..., format="gif")``)."""
    anim = animate_trajectory(traj, num_frames=num_frames, nrow=nrow, interval=interval)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trajectory.gif"
        anim.save(str(path), writer=animation.PillowWriter(fps=max(1, round(1000 / interval))), dpi=dpi)
        return path.read_bytes()


def plot_losses(history: Sequence[tuple[int, float]], ax: Axes | None = None, smooth: int = 20) -> Axes:
    """Loss per step (faint) and its running mean over ``smooth`` steps."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    if history:
        steps, losses = zip(*history)
        t = torch.tensor(losses)
        ax.plot(steps, losses, alpha=0.3, lw=0.8, label="loss")
        if len(t) >= smooth:
            mean = t.unfold(0, smooth, 1).mean(1)
            ax.plot(steps[smooth - 1:], mean.tolist(), lw=1.8, label=f"mean of {smooth}")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("MSE(eps, eps_theta)")
    return ax

