"""The numbers every notebook, the Quest and ``evaluate`` report, on the judge's terms (notebook 05).

* conditional accuracy: the share of samples generated for digit d that the judge calls d;
* Frechet distance between Gaussians fitted to judge features of samples and of real images;
* Classification Accuracy Score (CAS): a fresh classifier trained on samples only, tested on real;
* memorisation: how close each sample lies to its nearest training image, against the same for
  held-out real images;
* background grain: the speckle left between the strokes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .judge import JudgeNet, JudgeTraining, check_images, judge_logits, train_classifier


def accuracy(judge: JudgeNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` the judge assigns to ``labels``."""
    return float((judge_logits(judge, images).argmax(1) == labels.cpu()).double().mean())


def conditional_accuracy(judge: JudgeNet, images: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Share of images made for class d that the judge calls d: overall, per class, and the count used."""
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    pred = judge_logits(judge, images).argmax(1)
    labels = labels.cpu()
    per_class = {int(c): float((pred[labels == c] == c).double().mean()) for c in labels.unique()}
    return {"accuracy": float((pred == labels).double().mean()), "per_class": per_class, "num_samples": int(len(labels))}


def background_grain(images: torch.Tensor, stroke: float = 0.5, margin: int = 3) -> float:
    """Mean brightness (0 black, 1 white) of the background of (N, C, H, W) images: pixels with no stroke
    (u = (x + 1) / 2 > ``stroke``) within ``margin``. Real digits score about 1e-5; the speckle a half-trained model
    leaves (the Quest's "grain") raises it; images with no background at all score 1, the worst."""
    check_images(images, images.shape[1] if isinstance(images, torch.Tensor) and images.ndim == 4 else 1)
    u = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    near = F.max_pool2d((u > stroke).float(), 2 * margin + 1, stride=1, padding=margin) > 0
    background = u[~near]
    return float(background.mean()) if background.numel() else 1.0  # no black left anywhere (noise): the worst


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) between Gaussians fitted to two (N, D) sets."""
    for name, f in (("feats_a", feats_a), ("feats_b", feats_b)):
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"{name} must be (N, D) with N >= 2, got {tuple(f.shape)}")
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature sizes differ: {feats_a.shape[1]} vs {feats_b.shape[1]}")
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    s = (vecs * vals.clamp(min=0).sqrt()) @ vecs.T  # S_a^1/2, cov_a being symmetric positive semi-definite
    covmean_trace = torch.linalg.eigvalsh(s @ cov_b @ s).clamp(min=0).sqrt().sum()
    fd = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * covmean_trace
    return float(fd.clamp(min=0))


def nearest_distances(queries: torch.Tensor, pool: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """(N,) pixel distance from each query to its nearest image in ``pool``: found by |p|^2 - 2 q.p, then recomputed
    directly (the expansion loses precision for near-identical images)."""
    q = queries.flatten(1).float()
    p = pool.flatten(1).float()
    p_sq = p.square().sum(1)
    out = []
    for i in range(0, q.shape[0], batch_size):
        qb = q[i:i + batch_size]
        nearest = (p_sq[None] - 2 * qb @ p.T).argmin(1)
        out.append((qb - p[nearest]).norm(dim=1))
    return torch.cat(out)


def memorisation(samples: torch.Tensor, train_images: torch.Tensor, heldout_images: torch.Tensor,
                 quantile: float = 0.01) -> dict[str, float]:
    """Do samples sit closer to training images than fresh real images do? The median nearest-training-image distances
    of samples and held-out images, their ratio, and ``copied_fraction``: the share of samples nearer than all but
    ``quantile`` of held-out images (about ``quantile`` for a model that does not copy)."""
    for name, x in (("samples", samples), ("train_images", train_images), ("heldout_images", heldout_images)):
        check_images(x, samples.shape[1] if samples.ndim == 4 else 1, name)
    d_samples = nearest_distances(samples, train_images)
    d_heldout = nearest_distances(heldout_images, train_images)
    threshold = torch.quantile(d_heldout, quantile)
    return {"sample_nn_median": float(d_samples.median()), "heldout_nn_median": float(d_heldout.median()),
            "nn_ratio": float(d_samples.median() / d_heldout.median().clamp(min=1e-12)),
            "copied_fraction": float((d_samples < threshold).double().mean()), "num_samples": int(len(samples))}


def classification_accuracy_score(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                                  test_labels: torch.Tensor, recipe: JudgeTraining | None = None,
                                  device: str | torch.device = "cpu") -> float:
    """CAS: train a fresh classifier on (generated) ``images`` only, return its accuracy on real test images."""
    recipe = recipe or JudgeTraining(epochs=10)
    net = train_classifier(images, labels, recipe, device=device)
    return accuracy(net, test_images, test_labels)


def balanced_subset(labels: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of ``n`` images drawn evenly from every class (a random order inside each class).

    Datasets sorted by label (like ``mnist-5k``) make ``images[:n]`` a biased reference; this is not.
    """
    classes = labels.unique()
    per_class = -(-n // len(classes))
    picks = []
    for c in classes.tolist():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} images, fewer than the {per_class} needed for {n} images")
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    order = torch.stack(picks, 1).flatten()  # interleave classes: 0, 1, ..., 9, 0, 1, ...
    return order[:n]
