"""The 15 + 4 CIFAR-10-C corruptions at severities 1..5, vectorised over a batch of uint8 images.

Corruptions and severity parameters are those of Hendrycks & Dietterich, "Benchmarking Neural Network Robustness
to Common Corruptions and Perturbations" (ICLR 2019), as set for CIFAR-10 in the authors' public generator
(github.com/hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py). The code here is written anew on numpy,
scipy.ndimage and Pillow; where it departs from that generator (frost's photographs and ImageMagick's motion blur
cannot be shipped, the glass-blur shuffle is vectorised, grey pixels have no hue) docs/corruptions.md says how.

Each corruption works on float32 images in [0, 1], laid out (N, 3, H, W) like the project's splits, and draws
everything random for the whole batch from one generator seeded by (seed, corruption, severity).
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UserError

STANDARD: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
EXTRA: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
CORRUPTIONS: tuple[str, ...] = STANDARD + EXTRA
FAMILY: dict[str, str] = {
    **{name: "noise" for name in STANDARD[:3]},
    **{name: "blur" for name in STANDARD[3:7]},
    **{name: "weather" for name in STANDARD[7:11]},
    **{name: "digital" for name in STANDARD[11:]},
    **{name: "extra" for name in EXTRA},
}
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

# Severity 1..5 parameters of each corruption, from the reference generator (see the module docstring); what each
# number means is in the docstring of the function that takes it.
PARAMETERS: dict[str, tuple[Any, ...]] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # The reference's np.arange(1, top, 0.01) overshoots its float stop by one step at the first two severities.
    "zoom_blur": (1.06, 1.11, 1.15, 1.20, 1.25),
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95),
             (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    # Image size 32 times the reference's (alpha, sigma, affine) fractions.
    "elastic_transform": ((0.0, 0.0, 2.56), (1.6, 6.4, 2.24), (2.56, 1.92, 1.92), (3.2, 1.28, 1.6),
                          (3.2, 0.96, 0.96)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "spatter": ((0.62, 0.1, 0.7, 0.7, 0.5, 0),
                (0.65, 0.1, 0.8, 0.7, 0.5, 0),
                (0.65, 0.3, 1, 0.69, 0.5, 0),
                (0.65, 0.1, 0.7, 0.69, 0.6, 1),
                (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}

Corruption = Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]


# --- noise -------------------------------------------------------------------------------------------------------

def gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add independent N(0, sigma^2) noise to every value."""
    return x + rng.normal(0.0, sigma, size=x.shape).astype(np.float32)


def shot_noise(x: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson photon noise: each value becomes Poisson(x * photons) / photons (fewer photons, more noise)."""
    return (rng.poisson(x * photons) / photons).astype(np.float32)


def impulse_noise(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: each value, independently with probability `amount`, becomes 0 or 1 (equally likely)."""
    hit = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), x)


def speckle_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative noise: x + x * N(0, sigma^2)."""
    return x * (1 + rng.normal(0.0, sigma, size=x.shape).astype(np.float32))


# --- colour --------------------------------------------------------------------------------------------------------

def brightness(x: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Raise HSV value (the largest channel) by `shift`, capped at 1, keeping hue and saturation.

    With hue and saturation fixed every channel is proportional to the value, so this scales each pixel by
    new value / old value; a black pixel (no hue) becomes grey at the new value.
    """
    value = x.max(axis=1, keepdims=True)
    raised = np.minimum(value + shift, 1.0)
    return np.where(value > 0, x * (raised / np.maximum(value, 1e-12)), raised)


def contrast(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Scale each image's channels about their own mean by `factor`."""
    mean = x.mean(axis=(2, 3), keepdims=True)
    return (x - mean) * factor + mean


def saturate(x: np.ndarray, scale_shift: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """HSV saturation s -> clip(s * scale + shift, 0, 1), keeping hue and value.

    A channel's distance below the value is proportional to the saturation, so the new channel is
    value - (value - channel) * new / old saturation. A grey pixel has no hue and stays grey (the reference gives it
    hue 0, red).
    """
    scale, shift = scale_shift
    value = x.max(axis=1, keepdims=True)
    spread = value - x.min(axis=1, keepdims=True)
    coloured = spread > 0
    saturation = np.where(coloured, spread / np.maximum(value, 1e-12), 0.0)
    new_saturation = np.clip(saturation * scale + shift, 0.0, 1.0)
    ratio = np.where(coloured, new_saturation / np.maximum(saturation, 1e-12), 1.0)
    return value - (value - x) * ratio


_FUNCTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
    "brightness": brightness,
    "contrast": contrast,
    "saturate": saturate,
}


def _generator(seed: int, name: str, severity: int) -> np.random.Generator:
    # crc32, not hash(): Python salts str hashes per process, and the draw must be the same in every run.
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), severity]))


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt `images` with corruption `name` at `severity` (1..5).

    images: uint8 (N, 3, 32, 32) (the project's Split layout, channels first); returns uint8 of the same shape.
    Deterministic for (images, name, severity, seed); the random draws are made for the whole batch at once, so an
    image's corruption depends on its place in the batch.
    """
    if name not in PARAMETERS:
        raise UserError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or severity not in SEVERITIES:
        raise UserError(f"corruption severity must be one of {', '.join(map(str, SEVERITIES))}, got {severity!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UserError(f"corruption seed must be a non-negative integer, got {seed!r}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"images must be uint8 (N, 3, 32, 32), got {images.dtype} {images.shape}")
    if name not in _FUNCTIONS:
        raise NotImplementedError(f"corruption {name!r} is not implemented yet")
    x = images.astype(np.float32) / 255
    out = _FUNCTIONS[name](x, PARAMETERS[name][severity - 1], _generator(int(seed), name, int(severity)))
    return np.rint(np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)
