import torch
from PIL import Image

from ddpm_lib.schedule import NoiseSchedule
import pytest

from ddpm_lib.viz import (Trajectory, animate_trajectory, figure_png, frame_indices, image_grid, live_figure, noising_strip, save_grid,
                          show_images, trajectory_gif, trajectory_strip)


def test_image_grid_layout_and_range():
    x = torch.full((5, 1, 4, 4), -1.0)
    x[1] = 1.0
    grid = image_grid(x, nrow=3, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 1)
    assert grid[1:5, 6:10].min() == 1.0 and grid[1:5, 1:5].max() == 0.0  # image 1 white, image 0 black


def test_save_grid_writes_a_png_atomically(tmp_path):
    path = save_grid(torch.zeros(4, 1, 8, 8), tmp_path / "a" / "g.png", nrow=2, row_labels=["x", "y"])
    assert Image.open(path).format == "PNG"
    assert sorted(p.name for p in path.parent.iterdir()) == ["g.png"]


def test_noising_strip_uses_the_closed_form():
    s = NoiseSchedule()
    x0 = torch.zeros(1, 4, 4) + 0.5
    strip = noising_strip(s, x0, [0, 999], generator=torch.Generator().manual_seed(0))
    assert strip.shape == (2, 1, 4, 4)
    assert (strip[0] - 0.5).abs().max() < 0.1  # t = 0: almost the image
    # t = T-1: almost pure noise, sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps with alpha_bar ~ 4e-5
    assert abs(strip[1].mean().item()) < 0.5 and 0.5 < strip[1].std().item() < 1.5


def test_frames_and_animation():
    assert frame_indices(50, 5) == [0, 12, 24, 37, 49]
    assert frame_indices(3, 10) == [0, 1, 2]
    xt, x0, out = torch.rand(10, 4, 1, 8, 8) * 2 - 1, torch.rand(10, 4, 1, 8, 8) * 2 - 1, torch.rand(4, 1, 8, 8) * 2 - 1
    traj = Trajectory(torch.arange(9, -1, -1), xt, x0, out)
    frames, labels = trajectory_strip(traj, sample=2, num_frames=4)
    # each frame shows the x_t its label names (frame "t=9" is the model's input at t=9), then the result
    assert labels == ["t=9", "t=5", "t=0", "x_0"] and frames.shape == (4, 1, 8, 8)
    torch.testing.assert_close(frames[0], xt[0, 2])
    torch.testing.assert_close(frames[1], xt[4, 2])
    torch.testing.assert_close(frames[-1], out[2])
    estimates, labels = trajectory_strip(traj, sample=2, num_frames=3, which="x0")
    assert labels == ["t=9", "t=5", "t=0"]
    torch.testing.assert_close(estimates[1], x0[4, 2])
    anim = animate_trajectory(traj, num_frames=4, nrow=2)
    html = anim.to_jshtml()
    assert html.count("data:image/png;base64") == 4  # one embedded frame per requested frame


def test_figure_png_and_gif_render_without_scripts():
    import matplotlib.pyplot as plt

    def draw(n=2):
        show_images(torch.zeros(n, 1, 8, 8), nrow=n)

    before = plt.get_fignums()
    png = figure_png(draw, n=3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and plt.get_fignums() == before  # no figure left open
    traj = Trajectory(torch.arange(5, -1, -1), torch.rand(6, 2, 1, 8, 8) * 2 - 1, torch.rand(6, 2, 1, 8, 8) * 2 - 1,
                      torch.rand(2, 1, 8, 8) * 2 - 1)
    gif = trajectory_gif(traj, num_frames=3, nrow=2)
    assert gif[:6] == b"GIF89a"
    with pytest.raises(ValueError, match="drew no matplotlib figure"):
        figure_png(lambda: None)


def test_live_figure_shows_a_png_first_and_redraws_it_in_place(monkeypatch):
    import ipywidgets as widgets
    from IPython import display as ipy_display

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def fake_display(obj, display_id=False):
        shown.append(obj)
        return Handle() if display_id else None

    monkeypatch.setattr(ipy_display, "display", fake_display)
    slider = widgets.IntSlider(2, 1, 4)
    live_figure(lambda n: show_images(torch.zeros(n, 1, 8, 8), nrow=n), {"n": slider})
    assert isinstance(shown[0], ipy_display.Image) and shown[0].data[:4] == b"\x89PNG"  # the static picture comes first
    slider.value = 3
    assert len(updates) == 1 and updates[0].data != shown[0].data  # redrawn in place for the new value
