"""The CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019) as one table: each corruption's name, family and
parameters at severities 1..5, and the groups of names that `robustness.corruptions` may use.

A leaf module of plain data, importing nothing of the package nor numpy: params validation (config.py, which every
package imports) checks `robustness.corruptions` and `.severities` against it without loading the corruptions' code,
and the corruptions, the report and its figures read it too (dvc.yaml lists this file among those stages' deps).
The functions live in robustness/corruptions.py, each registered under its own name, the name of its row here (a
row cannot hold its function without importing numpy); a unit test checks that rows and functions match.

The parameters are those the authors' public generator sets for CIFAR-10 (github.com/hendrycks/robustness,
ImageNet-C/create_c/make_cifar_c.py); robustness/corruptions.py's functions say how each field is used. The table's
order is the canonical order of the names: the benchmark's fifteen, then the four extras.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import NamedTuple

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


# --- the kinds of parameters, one value of a kind per severity (values in [0, 1] unless a field says pixels) ------

class NoiseStd(NamedTuple):
    std: float  # of additive noise (gaussian), or of the noise factor each value is multiplied by (speckle)


class Photons(NamedTuple):
    photons: float  # expected photon count of a value of 1: fewer photons, more noise


class Impulse(NamedTuple):
    amount: float  # probability that a value is replaced by 0 or 1


class Brightness(NamedTuple):
    shift: float  # added to HSV value


class Contrast(NamedTuple):
    factor: float  # scale of the channels about their mean


class Saturate(NamedTuple):
    scale: float  # HSV saturation s becomes s * scale + shift
    shift: float


class GaussianBlur(NamedTuple):
    sigma: float  # pixels


class Defocus(NamedTuple):
    radius: float  # of the disk, pixels
    alias_sigma: float  # of the 3-tap Gaussian that smooths the disk's edge, pixels


class Glass(NamedTuple):
    sigma: float  # of the blur before and after the shuffle, pixels
    max_delta: int  # farthest a pixel swaps, pixels
    iterations: int  # shuffle sweeps


class Motion(NamedTuple):
    radius: float  # of the one-sided line kernel, pixels
    sigma: float  # of its Gaussian weights, pixels


class Zoom(NamedTuple):
    top_factor: float  # the largest of the magnifications 1.00, 1.01, ... averaged


class Fog(NamedTuple):
    strength: float  # weight of the plasma fractal
    decay: float  # the fractal's roughness decay per level: larger is smoother


class Snow(NamedTuple):
    mean: float  # of the Gaussian flake layer
    std: float
    zoom: float  # magnification of the flake layer
    threshold: float  # flake values below it are dropped
    radius: float  # of the motion blur that streaks the flakes, pixels
    sigma: float
    blend: float  # weight of the image against its whitened self


class Frost(NamedTuple):
    image_weight: float
    frost_weight: float  # of the frost texture


class Elastic(NamedTuple):
    alpha: float  # pixels of displacement per unit of the smoothed noise field
    sigma: float  # of the blur that smooths the field, pixels
    affine: float  # largest move of each affine control point, pixels


class Pixelate(NamedTuple):
    fraction: float  # of the side the image is shrunk to


class Jpeg(NamedTuple):
    quality: int  # Pillow's JPEG quality


class Spatter(NamedTuple):
    mean: float  # of the Gaussian liquid layer
    std: float
    sigma: float  # of the blur that smooths the layer, pixels
    threshold: float  # layer values below it are dry
    strength: float  # water: the shading's peak; mud: the sigma of the blur that spreads the drops, pixels
    mud: bool  # mud, else water


class CorruptionRow(NamedTuple):
    name: str
    family: str  # noise, blur, weather, digital, or extra for the four outside the benchmark's fifteen
    parameters: tuple[tuple, ...]  # one per severity in SEVERITIES


def _each(kind: type, *values: float) -> tuple[tuple, ...]:
    """One parameters value per severity of a kind that has a single field."""
    return tuple(kind(value) for value in values)


TABLE: tuple[CorruptionRow, ...] = (
    CorruptionRow("gaussian_noise", "noise", _each(NoiseStd, 0.04, 0.06, 0.08, 0.09, 0.10)),
    CorruptionRow("shot_noise", "noise", _each(Photons, 500, 250, 100, 75, 50)),
    CorruptionRow("impulse_noise", "noise", _each(Impulse, 0.01, 0.02, 0.03, 0.05, 0.07)),
    CorruptionRow("defocus_blur", "blur", (Defocus(0.3, 0.4), Defocus(0.4, 0.5), Defocus(0.5, 0.6), Defocus(1, 0.2),
                                           Defocus(1.5, 0.1))),
    CorruptionRow("glass_blur", "blur", (Glass(0.05, 1, 1), Glass(0.25, 1, 1), Glass(0.4, 1, 1), Glass(0.25, 1, 2),
                                         Glass(0.4, 1, 2))),
    CorruptionRow("motion_blur", "blur", (Motion(6, 1), Motion(6, 1.5), Motion(6, 2), Motion(8, 2), Motion(9, 2.5))),
    # The reference's np.arange(1, top, 0.01) overshoots its float stop by one step at the first two severities.
    CorruptionRow("zoom_blur", "blur", _each(Zoom, 1.06, 1.11, 1.15, 1.20, 1.25)),
    CorruptionRow("snow", "weather", (Snow(0.1, 0.2, 1, 0.6, 8, 3, 0.95),
                                      Snow(0.1, 0.2, 1, 0.5, 10, 4, 0.9),
                                      Snow(0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
                                      Snow(0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
                                      Snow(0.3, 0.3, 1.25, 0.65, 14, 12, 0.8))),
    CorruptionRow("frost", "weather", (Frost(1, 0.2), Frost(1, 0.3), Frost(0.9, 0.4), Frost(0.85, 0.4),
                                       Frost(0.75, 0.45))),
    CorruptionRow("fog", "weather", (Fog(0.2, 3), Fog(0.5, 3), Fog(0.75, 2.5), Fog(1, 2), Fog(1.5, 1.75))),
    CorruptionRow("brightness", "weather", _each(Brightness, 0.05, 0.1, 0.15, 0.2, 0.3)),
    CorruptionRow("contrast", "digital", _each(Contrast, 0.75, 0.5, 0.4, 0.3, 0.15)),
    # Image size 32 times the reference's (alpha, sigma, affine) fractions.
    CorruptionRow("elastic_transform", "digital", (Elastic(0.0, 0.0, 2.56), Elastic(1.6, 6.4, 2.24),
                                                   Elastic(2.56, 1.92, 1.92), Elastic(3.2, 1.28, 1.6),
                                                   Elastic(3.2, 0.96, 0.96))),
    CorruptionRow("pixelate", "digital", _each(Pixelate, 0.95, 0.9, 0.85, 0.75, 0.65)),
    CorruptionRow("jpeg_compression", "digital", _each(Jpeg, 80, 65, 58, 50, 40)),
    CorruptionRow("speckle_noise", "extra", _each(NoiseStd, 0.06, 0.1, 0.12, 0.16, 0.2)),
    CorruptionRow("gaussian_blur", "extra", _each(GaussianBlur, 0.4, 0.6, 0.7, 0.8, 1.0)),
    CorruptionRow("spatter", "extra", (Spatter(0.62, 0.1, 0.7, 0.7, 0.5, False),
                                       Spatter(0.65, 0.1, 0.8, 0.7, 0.5, False),
                                       Spatter(0.65, 0.3, 1, 0.69, 0.5, False),
                                       Spatter(0.65, 0.1, 0.7, 0.69, 0.6, True),
                                       Spatter(0.65, 0.1, 0.5, 0.68, 0.6, True))),
    CorruptionRow("saturate", "extra", (Saturate(0.3, 0), Saturate(0.1, 0), Saturate(1.5, 0), Saturate(2, 0.1),
                                        Saturate(2.5, 0.2))),
)

ROWS: dict[str, CorruptionRow] = {row.name: row for row in TABLE}
CORRUPTIONS: tuple[str, ...] = tuple(ROWS)
FAMILY: dict[str, str] = {row.name: row.family for row in TABLE}
EXTRA: tuple[str, ...] = tuple(name for name in CORRUPTIONS if FAMILY[name] == "extra")
STANDARD: tuple[str, ...] = tuple(name for name in CORRUPTIONS if FAMILY[name] != "extra")

# A group is `all` (the 19), `standard` (the 15 of CIFAR-10-C's benchmark) or a family (noise, blur, weather,
# digital, extra), the families in the table's order.
GROUPS: dict[str, tuple[str, ...]] = {
    "all": CORRUPTIONS,
    "standard": STANDARD,
    **{family: tuple(n for n in CORRUPTIONS if FAMILY[n] == family) for family in dict.fromkeys(FAMILY.values())},
}


def expand_corruptions(entries: Iterable[str]) -> tuple[str, ...]:
    """The corruptions that `entries` (names and group names) stand for, in `CORRUPTIONS` order, each once, so that
    the outputs do not depend on how a user spelled the same set.

    Raises ValueError naming the first entry that is neither, with the closest valid spelling if there is one.
    """
    chosen: set[str] = set()
    for entry in entries:
        if entry in GROUPS:
            chosen.update(GROUPS[entry])
        elif entry in ROWS:
            chosen.add(entry)
        else:
            close = _closest(entry)
            hint = f" (did you mean '{close}'?)" if close else ""
            raise ValueError(f"'{entry}' is not a corruption or group{hint}; groups: {', '.join(GROUPS)}; "
                             f"corruptions: {', '.join(CORRUPTIONS)}")
    return tuple(n for n in CORRUPTIONS if n in chosen)


def _closest(entry: str) -> str | None:
    """The valid name `entry` most likely meant: a close spelling, or the one name it is part of (jpeg)."""
    valid = [*GROUPS, *CORRUPTIONS]
    close = difflib.get_close_matches(entry, valid, n=1)
    if close:
        return close[0]
    containing = [name for name in valid if entry and entry.lower() in name]
    return containing[0] if len(containing) == 1 else None
