import math

import pytest
import torch

from ddpm_lib.unet import (CrossAttention, ResidualBlock, SelfAttention, SimpleUNet, SinusoidalPositionEmbeddings,
                           count_parameters, describe_blocks)

TABLE1 = {  # block name -> (C, H, W) of its output, base 64 on 1x32x32 (Table 1 of the source report)
    "input_conv": (64, 32, 32),
    "downs.0": (128, 16, 16),
    "downs.1": (256, 8, 8),
    "downs.2": (512, 4, 4),
    "bottleneck": (512, 4, 4),
    "ups.0": (256, 8, 8),
    "ups.1": (128, 16, 16),
    "ups.2": (64, 32, 32),
    "output_conv": (1, 32, 32),
}
UP_INPUT_CHANNELS = {"ups.0.res": 1024, "ups.1.res": 512, "ups.2.res": 256}


def _capture_shapes(model, x, t, names, inputs=False):
    shapes, hooks = {}, []
    modules = dict(model.named_modules())
    for name in names:
        def hook(mod, args, out, name=name):
            out = out[0] if isinstance(out, tuple) else out  # down blocks also return their skip
            shapes[name] = tuple((args[0] if inputs else out).shape[1:])
        hooks.append(modules[name].register_forward_hook(hook))
    with torch.no_grad():
        model(x, t)
    for h in hooks:
        h.remove()
    return shapes


@pytest.fixture(scope="module")
def table1_model():
    torch.manual_seed(0)
    return SimpleUNet().eval()


def test_table1_block_shapes(table1_model):
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([0, 999])
    assert _capture_shapes(table1_model, x, t, TABLE1) == TABLE1


def test_table1_up_blocks_take_concatenated_channels(table1_model):
    x, t = torch.randn(1, 1, 32, 32), torch.tensor([5])
    shapes = _capture_shapes(table1_model, x, t, UP_INPUT_CHANNELS, inputs=True)
    assert {k: v[0] for k, v in shapes.items()} == UP_INPUT_CHANNELS


def test_describe_blocks_reports_table1(table1_model):
    rows = describe_blocks(table1_model, torch.randn(1, 1, 32, 32), torch.tensor([5]))
    assert {r["block"]: r["out"] for r in rows} == TABLE1
    assert [r["in"][0] for r in rows if r["block"].startswith("ups")] == [1024, 512, 256]
    assert sum(r["parameters"] for r in rows) < count_parameters(table1_model)  # the time MLP is not a block


def test_parameter_counts_pinned():
    assert count_parameters(SimpleUNet()) == 18_951_425
    assert count_parameters(SimpleUNet(base_channels=32, num_classes=10)) == 4_745_217


def test_sinusoidal_embedding_formula():
    emb = SinusoidalPositionEmbeddings(8)(torch.tensor([0, 1, 250]))
    assert emb.shape == (3, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    for i in range(4):  # PE(t, 2i) = sin(t / 10000^(2i/d)), its cosine stored at i + d/2
        w = 1 / 10000 ** (2 * i / 8)
        assert emb[2, i].item() == pytest.approx(math.sin(250 * w), abs=1e-5)
        assert emb[2, i + 4].item() == pytest.approx(math.cos(250 * w), abs=1e-5)
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionEmbeddings(7)


def test_residual_block_uses_time_as_scale_and_shift():
    torch.manual_seed(0)
    block = ResidualBlock(8, 16, emb_dim=12, groups=4).eval()
    x = torch.randn(2, 8, 6, 6)
    e1, e2 = torch.randn(2, 12), torch.randn(2, 12)
    assert block(x, e1).shape == (2, 16, 6, 6)
    assert not torch.allclose(block(x, e1), block(x, e2))  # the time embedding changes the output
    assert isinstance(block.skip, torch.nn.Conv2d) and block.skip.kernel_size == (1, 1)
    assert isinstance(ResidualBlock(8, 8, 12, 4).skip, torch.nn.Identity)
    with pytest.raises(ValueError, match="divisible by groups"):
        ResidualBlock(6, 8, 12, groups=4)


def test_self_attention_sees_every_position():
    torch.manual_seed(0)
    attn = SelfAttention(16, heads=4, groups=4).eval()
    x = torch.randn(1, 16, 4, 4)
    y = x.clone()
    y[..., 0, 0] += 5.0  # change one corner
    diff = (attn(x) - attn(y)).abs().sum(1)[0]
    assert (diff[3, 3] > 0).item()  # the opposite corner moved too: a global receptive field


def test_cross_attention_weights_and_effect():
    torch.manual_seed(0)
    attn = CrossAttention(16, context_dim=6, heads=2, groups=4).eval()
    x = torch.randn(2, 16, 4, 4)
    ctx = torch.randn(2, 3, 6)
    attn.store_weights = True
    out = attn(x, ctx)
    assert out.shape == x.shape
    w = attn.last_weights
    assert w is not None
    assert w.shape == (2, 2, 16, 3)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 16))
    attn.store_weights = False
    torch.testing.assert_close(attn(x, ctx), out, atol=1e-5, rtol=0)  # SDPA path equals the explicit one
    assert not torch.allclose(attn(x, ctx), attn(x, torch.randn(2, 3, 6)))


def test_labels_and_context_condition_the_output():
    torch.manual_seed(0)
    m = SimpleUNet(base_channels=8, channel_mults=(1, 2, 2, 2), num_classes=10, context_dim=6, norm_groups=4,
                   attention_heads=2).eval()
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([3, 400])
    out_a = m(x, t, torch.tensor([1, 2]))
    out_b = m(x, t, torch.tensor([7, 7]))
    assert not torch.allclose(out_a, out_b)
    torch.testing.assert_close(m(x, t), m(x, t, torch.tensor([10, 10])))  # no labels = the null label
    assert m.null_label == 10
    ctx = torch.randn(2, 4, 6)
    assert not torch.allclose(m(x, t, context=ctx), m(x, t))


def test_three_channel_variant():
    m = SimpleUNet(in_channels=3, base_channels=8, norm_groups=4, attention_heads=2)
    assert m(torch.randn(2, 3, 32, 32), torch.tensor([1, 2])).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("shape, t, match", [
    ((2, 3, 32, 32), [1, 2], r"\(B, 1, H, W\)"),
    ((2, 1, 28, 28), [1, 2], "divisible by 8"),
    ((2, 1, 32, 32), [1, 2, 3], r"shape \(2,\)"),
])
def test_bad_inputs_raise_clear_errors(shape, t, match):
    m = SimpleUNet(base_channels=8, norm_groups=4, attention_heads=2)
    with pytest.raises(ValueError, match=match):
        m(torch.randn(*shape), torch.tensor(t))


def test_labels_on_unconditional_model_raise():
    m = SimpleUNet(base_channels=8, norm_groups=4, attention_heads=2)
    with pytest.raises(ValueError, match="num_classes"):
        m(torch.randn(1, 1, 32, 32), torch.tensor([1]), torch.tensor([3]))
    with pytest.raises(ValueError, match="unconditional"):
        _ = m.null_label


def test_seeded_output_is_pinned():
    torch.manual_seed(0)
    m = SimpleUNet(base_channels=8, channel_mults=(1, 2, 2, 2), num_classes=10, norm_groups=4, attention_heads=2).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 32, 32, generator=g)
    out = m(x, torch.tensor([10, 900]), torch.tensor([3, 4]))
    assert out.shape == (2, 1, 32, 32)
    # the same seed gives the same network and output
    torch.manual_seed(0)
    m2 = SimpleUNet(base_channels=8, channel_mults=(1, 2, 2, 2), num_classes=10, norm_groups=4, attention_heads=2).eval()
    torch.testing.assert_close(m2(x, torch.tensor([10, 900]), torch.tensor([3, 4])), out)
