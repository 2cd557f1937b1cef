import pytest
import torch

from ddpm_lib.runtime import (MAX_SEED, autocast, check_seed, choose_device, cpu_supports_bf16, in_batches, make_generator,
                              progress_disabled, resolve_precision, seeded)


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    # auto follows the CPU's bf16 matrix units (AVX512-BF16 or AMX), which oneDNN reports
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_supports_bf16() else "fp32")
    with pytest.raises(ValueError, match="auto, fp32, bf16, fp16"):
        resolve_precision("int8", cpu)
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", cpu)
    with autocast(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_progress_disabled(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert progress_disabled(True) is False and progress_disabled(False) is True
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_disabled(True) is True


def test_seeded_is_reproducible_and_restores_the_global_state():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded(7):
        a = torch.randn(3)
    with seeded(7):
        b = torch.randn(3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random numbers are untouched


def test_seeds_and_devices_are_checked():
    assert check_seed(MAX_SEED) == MAX_SEED
    assert make_generator(5).initial_seed() == 5
    with pytest.raises(ValueError, match="seed must be a whole number from 0 to 9223372036854775807 .*got 18446744073709551616"):
        check_seed(2**64)
    with pytest.raises(ValueError, match="seed must be a whole number from 0 to .*got -1"):
        check_seed(-1)
    assert choose_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'; use 'cpu', 'cuda' or 'cuda:N'"):
        choose_device("gpu0")


def test_in_batches_slices_rows_without_gradients():
    x = torch.arange(7.0, requires_grad=True).reshape(7, 1)
    sizes = []

    def double(b):
        sizes.append(len(b))
        return 2 * b

    out = in_batches(double, x, batch_size=3)
    assert sizes == [3, 3, 1] and torch.equal(out, 2 * x.detach()) and not out.requires_grad
