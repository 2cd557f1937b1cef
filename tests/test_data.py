import gzip
import struct

import numpy as np
import pytest
import torch

from ddpm_lib.data import (DATASET_NAMES, DatasetUnavailableError, load_dataset, stratified_split, to_model_range,
                           to_unit)


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "test")


def test_default_dataset_shapes_range_and_split(mnist5k):
    train, test = mnist5k
    assert train.images.shape == (4000, 1, 32, 32) and test.images.shape == (1000, 1, 32, 32)
    assert train.images.dtype == torch.float32 and train.labels.dtype == torch.long
    for ds in mnist5k:
        assert ds.images.min().item() == -1.0 and ds.images.max().item() == 1.0
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    # the 2-pixel border added around 28x28 digits is background (-1)
    assert (train.images[:, :, :2] == -1).all() and (train.images[:, :, :, -2:] == -1).all()
    assert train.num_classes == 10 and len(train) == 4000
    x, y = train[0]
    assert x.shape == (1, 32, 32) and 0 <= int(y) <= 9


def test_split_is_seeded_and_disjoint(mnist5k):
    labels = np.repeat(np.arange(10), 500)
    a_tr, a_te = stratified_split(labels, 100, seed=0)
    b_tr, b_te = stratified_split(labels, 100, seed=0)
    assert np.array_equal(a_te, b_te) and not np.intersect1d(a_tr, a_te).size
    assert len(a_tr) + len(a_te) == 5000
    train, test = mnist5k
    flat_tr, flat_te = train.images.flatten(1), test.images.flatten(1)
    # no test image is an exact copy of a training image
    d = torch.cdist(flat_te[:200], flat_tr).min(1).values
    assert (d > 0).all()


def test_inverse_transform_round_trip():
    pixels = torch.randint(0, 256, (3, 32, 32)).float()
    x = to_model_range(pixels)
    assert x.shape == (3, 1, 32, 32)
    torch.testing.assert_close(to_unit(x)[:, 0] * 255, pixels, atol=1e-3, rtol=0)
    assert to_model_range(np.zeros((2, 3, 16, 16)), 1.0).shape == (2, 3, 32, 32)  # resized


def _write_idx(folder, prefix, images, labels, compress=False):
    folder.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if compress else open
    suffix = ".gz" if compress else ""
    n = len(images)
    with opener(folder / f"{prefix}-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.astype(np.uint8).tobytes())
    with opener(folder / f"{prefix}-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_path_on_small_idx_files(tmp_path, name, folder):
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    train_imgs, train_lab = rng.integers(0, 256, (12, 28, 28)), np.arange(12) % 10
    _write_idx(raw, "train", train_imgs, train_lab)
    _write_idx(raw, "t10k", rng.integers(0, 256, (5, 28, 28)), np.arange(5))
    ds = load_dataset(name, "train", root=tmp_path, download=False)
    assert ds.images.shape == (12, 1, 32, 32) and ds.labels.tolist() == train_lab.tolist()
    expected = torch.as_tensor(train_imgs, dtype=torch.float32) / 255 * 2 - 1
    torch.testing.assert_close(ds.images[:, 0, 2:30, 2:30], expected)
    assert load_dataset(name, "test", root=tmp_path, download=False).images.shape == (5, 1, 32, 32)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_files_say_where_and_name_the_offline_default(tmp_path, name):
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset(name, "train", root=tmp_path, download=False)
    msg = str(err.value)
    assert "mnist-5k" in msg and str(tmp_path) in msg


def test_bad_names_and_splits():
    with pytest.raises(ValueError, match=", ".join(DATASET_NAMES)):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="train, test"):
        load_dataset("mnist-5k", "validation")
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        to_model_range(np.zeros(5))


def test_mnist5k_csv_is_parsed_once_and_shared_read_only():
    from ddpm_lib.data import _mnist5k_arrays

    a, b = load_dataset("mnist-5k", "train"), load_dataset("mnist-5k", "train")
    assert _mnist5k_arrays.cache_info().currsize == 1
    assert torch.equal(a.images, b.images) and a.images.data_ptr() != b.images.data_ptr()  # callers get copies
    with pytest.raises(ValueError):
        _mnist5k_arrays()[0][0, 0] = 1.0


def test_cifar10_binary_batches_are_read_without_unpickling(tmp_path):
    from ddpm_lib.data import CIFAR10_DIR, cifar10_files

    rng = np.random.default_rng(0)
    folder = tmp_path / CIFAR10_DIR
    folder.mkdir()
    expected = {}
    for split in ("train", "test"):
        pix, lab = [], []
        for path in cifar10_files(tmp_path, split):
            n = 3
            labels = rng.integers(0, 10, n, dtype=np.uint8)
            pixels = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
            np.concatenate([labels[:, None], pixels.reshape(n, -1)], 1).tofile(path)  # the authors' record layout
            pix.append(pixels)
            lab.append(labels)
        expected[split] = (np.concatenate(pix), np.concatenate(lab))
    train = load_dataset("cifar10", "train", root=tmp_path, download=False)
    assert train.images.shape == (15, 3, 32, 32) and train.classes[0] == "airplane"
    assert train.labels.tolist() == expected["train"][1].tolist()
    torch.testing.assert_close(train.images, torch.as_tensor(expected["train"][0], dtype=torch.float32) / 255 * 2 - 1)
    test = load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert test.images.shape == (3, 3, 32, 32) and test.images[0, 1, 5, 7].item() == pytest.approx(
        expected["test"][0][0, 1, 5, 7] / 255 * 2 - 1)  # channel planes, then rows, in that order
    (folder / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetUnavailableError, match="test_batch.bin is not a CIFAR-10 binary batch: 100 bytes"):
        load_dataset("cifar10", "test", root=tmp_path, download=False)
