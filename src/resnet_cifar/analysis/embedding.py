"""A 2-D map of the penultimate features: t-SNE (scikit-learn) of a seeded sample of test images."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from ..limits import MIN_TSNE_SAMPLES

DEFAULT_PERPLEXITY = 30.0


def sample_indices(population: int, count: int, seed: int) -> np.ndarray:
    """`count` distinct indices below `population` (all of them if it is smaller), drawn with `seed`, sorted."""
    if count >= population:
        return np.arange(population)
    return np.sort(np.random.default_rng(seed).choice(population, size=count, replace=False))


def tsne_map(features: np.ndarray, seed: int) -> np.ndarray:
    """(N, 2) t-SNE coordinates of (N, D) features.

    Perplexity (the effective number of neighbours) is the usual 30, lowered for small samples to a third of the
    other points, so that every point has enough neighbours to choose from.

    The features must be finite and not all identical (see `feature_map`). They are centred and scaled to at most
    1 in magnitude first: t-SNE fits a bandwidth per point, so the map does not depend on the scale, while the
    squared distances of a diverged model's huge features would overflow float32.
    """
    perplexity = min(DEFAULT_PERPLEXITY, max(1.0, (len(features) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    centred = features.astype(np.float64) - features.mean(axis=0, dtype=np.float64)
    # One thread: scikit-learn's OpenMP pool and torch's, loaded in the same process, slow each other down by far
    # more than the parallelism gains on a map of a few hundred points.
    with threadpool_limits(limits=1):
        return tsne.fit_transform((centred / np.abs(centred).max()).astype(np.float32))


@dataclass(frozen=True)
class FeatureMap:
    shown: np.ndarray  # indices of the feature vectors on the map
    coords: np.ndarray  # (len(shown), 2) t-SNE coordinates
    note: str | None  # what the map leaves out, or why there is no map


def unmappable(features: np.ndarray) -> str | None:
    """Why finite `features` make no t-SNE map, in words; None if they make one. Identical points leave t-SNE's
    PCA initialisation with zero variance, and scikit-learn then crashes the process rather than raising."""
    if len(features) < MIN_TSNE_SAMPLES:
        return f"only {len(features)} usable feature vectors, at least {MIN_TSNE_SAMPLES} needed"
    if np.ptp(features, axis=0).max() == 0:
        return f"all {len(features)} usable feature vectors are identical"
    return None


def feature_map(features: np.ndarray, seed: int) -> FeatureMap:
    """The t-SNE map of the finite rows of (N, D) `features`, or none, with a note saying what is missing and why."""
    shown = np.flatnonzero(np.isfinite(features).all(axis=1))
    reasons = []
    if len(shown) < len(features):
        reasons.append(f"{len(features) - len(shown)} of {len(features)} feature vectors are not finite")
    if len(shown):
        problem = unmappable(features[shown])
        if problem is None:
            return FeatureMap(shown, tsne_map(features[shown], seed), f"left out: {reasons[0]}" if reasons else None)
        reasons.append(problem)
    return FeatureMap(shown[:0], np.empty((0, 2)), "t-SNE not drawn: " + "; ".join(reasons))
