"""The 15 + 4 CIFAR-10-C corruptions at severities 1..5, vectorised over a batch of uint8 images.

Corruptions are those of Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations" (ICLR 2019), with the parameters the authors' public generator sets for CIFAR-10
(github.com/hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py); corruption_table.py holds them, a row per
corruption. The code here is written anew on numpy, scipy.ndimage and Pillow; where it departs from that generator
(frost's photographs and ImageMagick's motion blur cannot be shipped, the glass-blur shuffle is vectorised, grey
pixels have no hue) docs/corruptions.md says how.

Each corruption is a public function registered (`_corruption`) under its own name, which is the name of its row in
corruption_table.py; it works on float32 images in [0, 1], laid out (N, 3, H, W) like the project's splits, takes
its row's parameters at one severity, and draws everything random for the whole batch from one generator seeded by
(seed, corruption, severity).
"""
from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import scipy.ndimage

from .. import corruption_table
from ..corruption_table import CORRUPTIONS, ROWS, SEVERITIES
from ..datasets import IMAGE_SHAPE
from ..errors import UserError

Corruption = Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]
_FUNCTIONS: dict[str, Corruption] = {}


def _corruption(function: Corruption) -> Corruption:
    """Register `function` as the corruption of corruption_table.py's row of the same name."""
    if function.__name__ not in ROWS:
        raise LookupError(f"corruption function {function.__name__!r} has no row in corruption_table.TABLE")
    _FUNCTIONS[function.__name__] = function
    return function


# --- noise -------------------------------------------------------------------------------------------------------

@_corruption
def gaussian_noise(x: np.ndarray, p: corruption_table.NoiseStd, rng: np.random.Generator) -> np.ndarray:
    """Add independent N(0, std^2) noise to every value."""
    return x + rng.normal(0.0, p.std, size=x.shape).astype(np.float32)


@_corruption
def shot_noise(x: np.ndarray, p: corruption_table.Photons, rng: np.random.Generator) -> np.ndarray:
    """Poisson photon noise: each value becomes Poisson(x * photons) / photons (fewer photons, more noise)."""
    return (rng.poisson(x * p.photons) / p.photons).astype(np.float32)


@_corruption
def impulse_noise(x: np.ndarray, p: corruption_table.Impulse, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: each value, independently with probability `amount`, becomes 0 or 1 (equally likely)."""
    hit = rng.random(x.shape) < p.amount
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), x)


@_corruption
def speckle_noise(x: np.ndarray, p: corruption_table.NoiseStd, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative noise: x + x * N(0, std^2)."""
    return x * (1 + rng.normal(0.0, p.std, size=x.shape).astype(np.float32))


# --- colour --------------------------------------------------------------------------------------------------------

@_corruption
def brightness(x: np.ndarray, p: corruption_table.Brightness, rng: np.random.Generator) -> np.ndarray:
    """Raise HSV value (the largest channel) by `shift`, capped at 1, keeping hue and saturation.

    With hue and saturation fixed every channel is proportional to the value, so this scales each pixel by
    new value / old value; a black pixel (no hue) becomes grey at the new value.
    """
    value = x.max(axis=1, keepdims=True)
    raised = np.minimum(value + p.shift, 1.0)
    return np.where(value > 0, x * (raised / np.maximum(value, 1e-12)), raised)


@_corruption
def contrast(x: np.ndarray, p: corruption_table.Contrast, rng: np.random.Generator) -> np.ndarray:
    """Scale each image's channels about their own mean by `factor`."""
    mean = x.mean(axis=(2, 3), keepdims=True)
    return (x - mean) * p.factor + mean


@_corruption
def saturate(x: np.ndarray, p: corruption_table.Saturate, rng: np.random.Generator) -> np.ndarray:
    """HSV saturation s -> clip(s * scale + shift, 0, 1), keeping hue and value.

    A channel's distance below the value is proportional to the saturation, so the new channel is
    value - (value - channel) * new / old saturation. A grey pixel has no hue and stays grey (the reference gives it
    hue 0, red).
    """
    value = x.max(axis=1, keepdims=True)
    spread = value - x.min(axis=1, keepdims=True)
    coloured = spread > 0
    saturation = np.where(coloured, spread / np.maximum(value, 1e-12), 0.0)
    new_saturation = np.clip(saturation * p.scale + p.shift, 0.0, 1.0)
    ratio = np.where(coloured, new_saturation / np.maximum(saturation, 1e-12), 1.0)
    return value - (value - x) * ratio


# --- helpers: filters and resampling over the last two (row, column) axes of a batch ----------------------------

def _gaussian(x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """Gaussian blur of each image plane (skimage's `gaussian` defaults: edge pixels repeated, 4 sigma)."""
    if sigma == 0:
        return x
    return scipy.ndimage.gaussian_filter(x, sigma, mode=mode, truncate=truncate, axes=(-2, -1))


def _border_index(index: np.ndarray, size: int, border: str) -> np.ndarray:
    """Integer sample positions outside 0..size-1 folded back in: "mirror" about the edge pixels (dcb|abcd|cba,
    OpenCV's default border) or "reflect" including them (dcba|abcd|dcba), as scipy.ndimage names them."""
    if border == "mirror":
        period = 2 * (size - 1)
        index = np.mod(index, period)
        return np.where(index >= size, period - index, index)
    index = np.mod(index, 2 * size)
    return np.where(index >= size, 2 * size - 1 - index, index)


def _bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, border: str) -> np.ndarray:
    """Sample images x (N, H, W, C) at fractional positions rows, cols (N, H, W) by bilinear interpolation."""
    n, height, width, _ = x.shape
    top, left = np.floor(rows), np.floor(cols)
    dr, dc = (rows - top)[..., None].astype(np.float32), (cols - left)[..., None].astype(np.float32)
    top, left = top.astype(np.int64), left.astype(np.int64)
    r0, r1 = _border_index(top, height, border), _border_index(top + 1, height, border)
    c0, c1 = _border_index(left, width, border), _border_index(left + 1, width, border)
    flat = x.reshape(n * height * width, -1)
    base = (np.arange(n) * (height * width))[:, None, None]

    def at(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return np.take(flat, (base + r * width + c).ravel(), axis=0).reshape(x.shape)

    return (at(r0, c0) * (1 - dc) + at(r0, c1) * dc) * (1 - dr) + (at(r1, c0) * (1 - dc) + at(r1, c1) * dc) * dr


def _linear_matrix(positions: np.ndarray, size: int) -> np.ndarray:
    """Linear interpolation at fractional `positions` inside 0..size-1 as a (len(positions), size) matrix."""
    lower = np.clip(np.floor(positions).astype(np.int64), 0, size - 1)
    upper = np.minimum(lower + 1, size - 1)
    weight = positions - lower
    matrix = np.zeros((len(positions), size), np.float32)
    np.add.at(matrix, (np.arange(len(positions)), lower), 1 - weight)
    np.add.at(matrix, (np.arange(len(positions)), upper), weight)
    return matrix


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Magnify the centre of each image plane by `factor`, keeping the size: the central ceil(size / factor)
    square is resized by `factor` (scipy.ndimage.zoom's linear interpolation: corner samples aligned) and the
    middle `size` rows and columns of the result kept. Linear interpolation is separable: rows and columns are
    each resampled by one matrix product."""
    size = x.shape[-1]
    crop = int(np.ceil(size / factor))
    start = (size - crop) // 2
    zoomed = int(round(crop * factor))
    trim = (zoomed - size) // 2
    matrix = _linear_matrix((np.arange(size) + trim) * ((crop - 1) / (zoomed - 1)), crop)
    return matrix @ x[..., start:start + crop, start:start + crop] @ matrix.T


def _motion_kernel(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick's motion-blur weights: one-sided, exp(-i^2 / 2 sigma^2) for i = 0 .. 2 ceil(radius)."""
    taps = np.arange(2 * int(np.ceil(radius)) + 1)
    weights = np.exp(-(taps**2) / (2.0 * sigma**2))
    return weights / weights.sum()


def _motion_blur(x: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """Blur each image (N, C, H, W) along a line at its own angle (degrees, N,): pixel (r, c) becomes the
    weighted sum of the pixels at (r, c) + i (sin angle, cos angle) rounded, i = 0, 1, ..., edge pixels repeated,
    which is how ImageMagick's MotionBlurImage (the reference's tool) samples."""
    n, _, height, width = x.shape
    weights = _motion_kernel(radius, sigma)
    steps = np.arange(len(weights))[None, :]
    angle = np.deg2rad(angles)[:, None]
    # ImageMagick rounds halves down: ceil(v - 0.5).
    d_rows = np.ceil(steps * np.sin(angle) - 0.5).astype(np.int64)
    d_cols = np.ceil(steps * np.cos(angle) - 0.5).astype(np.int64)
    planes = x.transpose(0, 2, 3, 1).reshape(n * height * width, -1)
    base = (np.arange(n) * (height * width))[:, None, None]
    rows, cols = np.arange(height)[None, :, None], np.arange(width)[None, None, :]
    out = np.zeros_like(planes)
    for tap, weight in enumerate(weights):
        r = np.clip(rows + d_rows[:, tap, None, None], 0, height - 1)
        c = np.clip(cols + d_cols[:, tap, None, None], 0, width - 1)
        out += weight * np.take(planes, (base + r * width + c).ravel(), axis=0)
    return out.reshape(n, height, width, -1).transpose(0, 3, 1, 2)


def _grey(x: np.ndarray) -> np.ndarray:
    """Luma (N, 1, H, W) with OpenCV's RGB-to-grey weights."""
    return np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), x, axes=(0, 1))[:, None]


def _plasma(n: int, size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """`n` plasma fractals (diamond-square on a torus), (n, size, size) scaled to [0, 1]; size a power of two.

    Each halving of the step adds uniform noise to the new points' neighbour means; as in the reference, the
    noise's half-width is wibble^2 with wibble starting at 100 and divided by `decay` at every level.
    """
    height = np.zeros((n, size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = height[:, ::step, ::step]
        # Square step: the centre of each cell is its four corners' mean plus noise.
        around = corners + np.roll(corners, -1, axis=1)
        around = around + np.roll(around, -1, axis=2)
        height[:, half::step, half::step] = around / 4 + wibble * rng.uniform(-wibble, wibble, around.shape)
        centres = height[:, half::step, half::step]
        # Diamond step: each edge midpoint is the mean of the two corners and the two centres beside it.
        upper = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        height[:, ::step, half::step] = upper / 4 + wibble * rng.uniform(-wibble, wibble, upper.shape)
        left = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        height[:, half::step, ::step] = left / 4 + wibble * rng.uniform(-wibble, wibble, left.shape)
        step, wibble = half, wibble / decay
    height -= height.min(axis=(1, 2), keepdims=True)
    return (height / height.max(axis=(1, 2), keepdims=True)).astype(np.float32)


# --- blur ----------------------------------------------------------------------------------------------------------

@_corruption
def gaussian_blur(x: np.ndarray, p: corruption_table.GaussianBlur, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with standard deviation `sigma` pixels."""
    return _gaussian(x, p.sigma)


def _defocus_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """The reference's defocus kernel: a disk of `radius` on a 17 x 17 grid, normalised, then smoothed by a 3-tap
    Gaussian of `alias_sigma` against aliasing; cut to its non-zero support."""
    offsets = np.arange(-8, 9)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-np.arange(-1, 2) ** 2 / (2 * alias_sigma**2))
    taps /= taps.sum()
    kernel = scipy.ndimage.correlate1d(scipy.ndimage.correlate1d(disk, taps, axis=0, mode="constant"),
                                       taps, axis=1, mode="constant")
    keep = np.flatnonzero(kernel.sum(axis=0) > 0)
    return kernel[keep[0]:keep[-1] + 1, keep[0]:keep[-1] + 1]


@_corruption
def defocus_blur(x: np.ndarray, p: corruption_table.Defocus, rng: np.random.Generator) -> np.ndarray:
    """Convolve with an anti-aliased disk (radius, alias sigma): an out-of-focus lens."""
    kernel = _defocus_kernel(p.radius, p.alias_sigma).astype(np.float32)
    return scipy.ndimage.correlate(x, kernel[None, None], mode="mirror")


def _local_shuffle(x: np.ndarray, max_delta: int, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """Swap pixels of x (N, C, H, W) with neighbours up to `max_delta` up and to the left (offsets in
    -max_delta .. max_delta - 1, as the reference draws them), for rows and columns max_delta+1 .. size-max_delta.

    The reference visits the pixels one by one in reverse raster order, so a pixel it has moved may be moved again
    in the same sweep. Here the pixels are taken in (2 max_delta)^2 interleaved lattices, in the same reverse
    order; within one lattice the swap partners never overlap, so each lattice's swaps happen at once.
    """
    n, channels, height, width = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(n, height * width, channels).copy()
    image = np.arange(n)[:, None]
    stride = 2 * max_delta
    for _ in range(iterations):
        for row_phase in range(stride):
            for col_phase in range(stride):
                rows = np.arange(height - max_delta - row_phase, max_delta, -stride)
                cols = np.arange(width - max_delta - col_phase, max_delta, -stride)
                here = (rows[:, None] * width + cols[None, :]).ravel()
                d_rows, d_cols = rng.integers(-max_delta, max_delta, size=(2, n, len(here)))
                there = here + d_rows * width + d_cols
                moved = flat[image, there]
                flat[image, there] = flat[image, here]
                flat[image, here] = moved
    return flat.reshape(n, height, width, channels).transpose(0, 3, 1, 2)


@_corruption
def glass_blur(x: np.ndarray, p: corruption_table.Glass, rng: np.random.Generator) -> np.ndarray:
    """Frosted glass: blur by sigma, round to 8 bits, shuffle pixels locally, blur again."""
    blurred = np.rint(np.clip(_gaussian(x, p.sigma), 0, 1) * 255) / 255
    return _gaussian(_local_shuffle(blurred.astype(np.float32), p.max_delta, p.iterations, rng), p.sigma)


@_corruption
def motion_blur(x: np.ndarray, p: corruption_table.Motion, rng: np.random.Generator) -> np.ndarray:
    """Camera shake: a one-sided Gaussian line blur (radius, sigma) at a uniform random angle in [-45, 45) degrees
    per image."""
    return _motion_blur(x, p.radius, p.sigma, angles=rng.uniform(-45, 45, size=len(x)))


@_corruption
def zoom_blur(x: np.ndarray, p: corruption_table.Zoom, rng: np.random.Generator) -> np.ndarray:
    """Zooming during the exposure: the mean of the image and its centre magnified by 1.00, 1.01, ..., top."""
    factors = np.linspace(1.0, p.top_factor, int(round((p.top_factor - 1) / 0.01)) + 1)
    total = x.copy()
    for factor in factors:
        total += _clipped_zoom(x, factor)
    return total / (len(factors) + 1)


# --- weather -------------------------------------------------------------------------------------------------------

@_corruption
def fog(x: np.ndarray, p: corruption_table.Fog, rng: np.random.Generator) -> np.ndarray:
    """Add `strength` times a plasma fractal (roughness `decay`: larger is smoother) to every channel, then scale
    each image by max / (max + strength) so its brightest value stays about where it was."""
    brightest = x.max(axis=(1, 2, 3), keepdims=True)
    foggy = x + p.strength * _plasma(len(x), x.shape[-1], p.decay, rng)[:, None]
    return foggy * brightest / (brightest + p.strength)


@_corruption
def snow(x: np.ndarray, p: corruption_table.Snow, rng: np.random.Generator) -> np.ndarray:
    """Falling snow: a Gaussian noise layer (mean, std), magnified (zoom), cut below a threshold, motion-blurred
    (radius, sigma) at a random angle in [-135, -45) degrees into streaks, and added twice (once turned by 180
    degrees) to the image, which is first whitened towards 1.5 luma + 0.5 with weight 1 - blend."""
    n, _, height, width = x.shape
    flakes = _clipped_zoom(rng.normal(p.mean, p.std, size=(n, 1, height, width)).astype(np.float32), p.zoom)
    flakes = np.clip(np.where(flakes < p.threshold, 0, flakes), 0, 1)
    flakes = _motion_blur(flakes, p.radius, p.sigma, angles=rng.uniform(-135, -45, size=n))
    whitened = p.blend * x + (1 - p.blend) * np.maximum(x, _grey(x) * 1.5 + 0.5)
    return whitened + flakes + flakes[:, :, ::-1, ::-1]


def _frost_texture(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A procedural stand-in for the reference's frost photographs, (n, 3, size, size) in [0, 1]: a cloudy plasma
    layer of rime with ice needles on it (sparse bright seeds smeared into streaks along three random directions
    per image), tinted pale blue-white."""
    rime = _plasma(n, size, 2.0, rng)[:, None]
    needles = np.zeros_like(rime)
    for _ in range(3):
        seeds = (rng.random(rime.shape) < 0.04) * rng.uniform(0.5, 1.0, rime.shape).astype(np.float32)
        needles = np.maximum(needles, _motion_blur(seeds, 5, 4, angles=rng.uniform(-180, 180, size=n)))
    needles /= np.maximum(needles.max(axis=(1, 2, 3), keepdims=True), 1e-6)
    texture = np.clip(0.55 * rime + 0.8 * needles, 0, 1)
    return texture * np.array([0.86, 0.93, 1.0], np.float32)[:, None, None]


@_corruption
def frost(x: np.ndarray, p: corruption_table.Frost, rng: np.random.Generator) -> np.ndarray:
    """Frost on the lens: image weight times the image plus frost weight times a frost texture."""
    return p.image_weight * x + p.frost_weight * _frost_texture(len(x), x.shape[-1], rng)


# --- digital -------------------------------------------------------------------------------------------------------

def _affine_to(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The affine maps (N, 2, 3) taking each image's three `source` points (x, y) to its `target` points."""
    ones = np.ones(source.shape[:-1] + (1,))
    return np.linalg.solve(np.concatenate([source, ones], axis=-1), target).transpose(0, 2, 1)


@_corruption
def elastic_transform(x: np.ndarray, p: corruption_table.Elastic, rng: np.random.Generator) -> np.ndarray:
    """A random affine warp (three control points moved by up to `affine` pixels; OpenCV's mirrored border), then
    a smooth random displacement field: uniform noise blurred by `sigma` (3-sigma kernel), times `alpha` pixels."""
    n, _, size, _ = x.shape
    centre, reach = size // 2, size // 3
    anchors = np.array([[centre + reach, centre + reach], [centre + reach, centre - reach],
                        [centre - reach, centre - reach]], dtype=np.float64)
    moved = anchors + rng.uniform(-p.affine, p.affine, size=(n, 3, 2))
    # Output pixel p shows input pixel A^-1 p, where A takes the anchors to where they moved.
    back = _affine_to(moved, np.broadcast_to(anchors, moved.shape))
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    points = np.stack([cols, rows, np.ones_like(rows)])
    source = np.einsum("nij,jhw->nihw", back, points)
    planes = _bilinear(x.transpose(0, 2, 3, 1), source[:, 1], source[:, 0], border="mirror")
    shift_cols, shift_rows = (_gaussian(rng.uniform(-1, 1, size=(n, size, size)), p.sigma, mode="reflect",
                                        truncate=3) * p.alpha for _ in range(2))
    planes = _bilinear(planes, rows + shift_rows, cols + shift_cols, border="reflect")
    return planes.transpose(0, 3, 1, 2)


def _box_resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Pillow's BOX resampling along one axis as a (size_out, size_in) matrix: each output pixel averages the input
    pixels whose centres fall in its footprint (when enlarging, the one nearest)."""
    scale = size_in / size_out
    footprint = max(scale, 1.0)
    centres = (np.arange(size_out) + 0.5) * scale
    offset = (np.arange(size_in)[None, :] + 0.5 - centres[:, None]) / footprint
    weights = ((offset > -0.5) & (offset <= 0.5)).astype(np.float64)
    return weights / weights.sum(axis=1, keepdims=True)


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


@_corruption
def pixelate(x: np.ndarray, p: corruption_table.Pixelate, rng: np.random.Generator) -> np.ndarray:
    """Pillow's BOX resize down to int(side * fraction) pixels and back up; like Pillow, each resize runs along the
    columns and then the rows, rounding to 8 bits after each pass (halves up)."""
    size = x.shape[-1]
    small = int(size * p.fraction)
    levels = x * 255
    for size_in, size_out in ((size, small), (small, size)):
        matrix = _box_resize_matrix(size_in, size_out)
        levels = _round_half_up(levels @ matrix.T)
        levels = _round_half_up(matrix @ levels)
    return (levels / 255).astype(np.float32)


@_corruption
def jpeg_compression(x: np.ndarray, p: corruption_table.Jpeg, rng: np.random.Generator) -> np.ndarray:
    """Save each image as a JPEG at `quality` with Pillow's defaults and decode it again."""
    out = np.empty_like(x)
    for i, image in enumerate(np.rint(x * 255).astype(np.uint8).transpose(0, 2, 3, 1)):
        buffer = io.BytesIO()
        PIL.Image.fromarray(image).save(buffer, format="JPEG", quality=p.quality)
        out[i] = np.asarray(PIL.Image.open(buffer)).transpose(2, 0, 1) / 255
    return out


# --- extra ---------------------------------------------------------------------------------------------------------

def _equalise(levels: np.ndarray) -> np.ndarray:
    """Histogram equalisation of each uint8-valued image (N, H, W), as OpenCV's equalizeHist maps levels:
    (cdf(v) - cdf(lowest)) / (pixels - cdf(lowest)) * 255, rounded."""
    n = len(levels)
    flat = levels.reshape(n, -1).astype(np.int64)
    counts = np.zeros((n, 256), np.int64)
    np.add.at(counts, (np.arange(n)[:, None], flat), 1)
    cdf = counts.cumsum(axis=1)
    lowest = cdf[np.arange(n), flat.min(axis=1)][:, None]
    spread = np.maximum(flat.shape[1] - lowest, 1)
    table = np.clip(np.rint((cdf - lowest) * 255 / spread), 0, 255)
    return np.take_along_axis(table, flat, axis=1).reshape(levels.shape)


def _water_shading(liquid: np.ndarray) -> np.ndarray:
    """Shading (N, H, W) of water drops from their layer (0 outside): the distance to the drops' outlines, capped
    at 20 and 3x3-averaged, equalised, embossed along the diagonal (8-bit saturating) and 3x3-averaged again."""
    inside = liquid > 0
    outline = inside & ~scipy.ndimage.binary_erosion(inside, structure=np.ones((1, 3, 3)), border_value=1)
    # One transform for the batch: the image axis is weighted so that no image's outline reaches another's
    # pixels within the cap of 20.
    distance = scipy.ndimage.distance_transform_edt(~outline, sampling=(1e3, 1, 1))
    distance = scipy.ndimage.uniform_filter(np.minimum(distance, 20), size=(1, 3, 3), mode="mirror")
    levels = _equalise(np.floor(distance))
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float64)
    levels = np.clip(np.rint(scipy.ndimage.correlate(levels, emboss[None], mode="mirror")), 0, 255)
    return scipy.ndimage.uniform_filter(levels, size=(1, 3, 3), mode="mirror")


@_corruption
def spatter(x: np.ndarray, p: corruption_table.Spatter, rng: np.random.Generator) -> np.ndarray:
    """Liquid splashed on the lens: a Gaussian noise layer (mean, std) blurred by `sigma` and cut below a
    threshold marks the drops. Water: the drops, shaded by their outline distance and scaled to peak at
    `strength`, add pale turquoise (175, 238, 238). Mud (`mud`): the drop mask blurred by `strength`, kept
    where it is at least 0.8, blends the image towards brown (63, 42, 20)."""
    n, _, height, width = x.shape
    liquid = _gaussian(rng.normal(p.mean, p.std, size=(n, height, width)), p.sigma)
    liquid = np.where(liquid < p.threshold, 0.0, liquid)
    if not p.mud:
        shade = liquid * _water_shading(liquid)
        shade = shade / np.maximum(shade.max(axis=(1, 2), keepdims=True), 1e-12) * p.strength
        colour = np.array([175, 238, 238], np.float32)[:, None, None] / 255
        return x + shade[:, None].astype(np.float32) * colour
    mud = _gaussian((liquid > p.threshold).astype(np.float32), p.strength)
    mud = np.where(mud < 0.8, 0.0, mud)[:, None].astype(np.float32)
    colour = np.array([63, 42, 20], np.float32)[:, None, None] / 255
    return x * (1 - mud) + colour * mud


def _generator(seed: int, name: str, severity: int) -> np.random.Generator:
    # crc32, not hash(): Python salts str hashes per process, and the draw must be the same in every run.
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), severity]))


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt `images` with corruption `name` at `severity` (1..5).

    images: uint8 (N, 3, 32, 32) (the project's Split layout, channels first); returns uint8 of the same shape.
    Deterministic for (images, name, severity, seed); the random draws are made for the whole batch at once, so an
    image's corruption depends on its place in the batch.
    """
    if name not in ROWS:
        raise UserError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or severity not in SEVERITIES:
        raise UserError(f"corruption severity must be one of {', '.join(map(str, SEVERITIES))}, got {severity!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UserError(f"corruption seed must be a non-negative integer, got {seed!r}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        shape = ", ".join(map(str, IMAGE_SHAPE))
        raise ValueError(f"images must be uint8 (N, {shape}), got {images.dtype} {images.shape}")
    x = images.astype(np.float32) / 255
    parameters = ROWS[name].parameters[SEVERITIES.index(severity)]
    out = _FUNCTIONS[name](x, parameters, _generator(int(seed), name, int(severity)))
    return np.rint(np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)
