"""A 2-D map of the penultimate features: t-SNE (scikit-learn) of a seeded sample of test images."""
from __future__ import annotations

import numpy as np
from sklearn.manifold import TSNE

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
    """
    perplexity = min(DEFAULT_PERPLEXITY, max(1.0, (len(features) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(features.astype(np.float32))
