"""The CIFAR-10-C corruptions: seeded, shape- and range-keeping, growing with severity, and right where a parameter
has a closed-form meaning."""
from __future__ import annotations

import inspect
import io

import numpy as np
import PIL.Image
import pytest
import scipy.optimize
import scipy.stats

from resnet_cifar import corruption_table as names
from resnet_cifar.corruption_table import CORRUPTIONS, FAMILY, ROWS, SEVERITIES
from resnet_cifar.errors import UserError
from resnet_cifar.robustness import corruptions
from resnet_cifar.robustness.corruptions import corrupt

DETERMINISTIC = {"brightness", "contrast", "saturate", "defocus_blur", "zoom_blur", "pixelate", "jpeg_compression",
                 "gaussian_blur"}
# Where the reference's severities do not order the distance from the clean image (docs/corruptions.md says why),
# so this implementation, keeping its parameters, does not either; each has its own test below instead.
NOT_MONOTONE = {
    "saturate",  # severities 1-2 desaturate, 3-5 oversaturate
    "glass_blur",  # the blur that grows over 1-3 and 4-5 hides the shuffle's pixel-scale differences
    "elastic_transform",  # the global affine part shrinks with severity while the local warp grows
    "frost",  # the image's weight falls faster than the frost's grows from severity 3 on
    "spatter",  # water at 1-3, mud at 4-5
}
# Motion blur's severities 3 and 4 differ only in kernel radius, 6 vs 8, at sigma 2: taps 13-16 weigh < 1e-9.
SAME_DISTANCE = {("motion_blur", 4)}

def natural_images(n: int, seed: int = 0) -> np.ndarray:
    """Smooth colour images with edges, textures and a range of brightness, like photographs at 32x32: a few
    low-frequency waves per channel plus a bright or dark disc."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:32, 0:32] / 32
    images = np.empty((n, 3, 32, 32))
    for i in range(n):
        base = rng.uniform(60, 190, size=(3, 1, 1))
        waves = sum(rng.uniform(10, 35, size=(3, 1, 1))
                    * np.sin(2 * np.pi * (rng.uniform(0.5, 3) * rows + rng.uniform(0.5, 3) * cols)
                             + rng.uniform(0, 2 * np.pi, size=(3, 1, 1)))
                    for _ in range(3))
        centre = rng.uniform(0.2, 0.8, size=2)
        disc = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < rng.uniform(0.02, 0.08)
        images[i] = base + waves + disc * rng.uniform(-60, 60, size=(3, 1, 1))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def parameters(name: str, severity: int) -> tuple:
    return ROWS[name].parameters[SEVERITIES.index(severity)]


# Variance, in levels^2, of rounding a smoothly spread value to the nearest level: uniform on [-1/2, 1/2].
ROUNDING_VARIANCE = 1 / 12


def grey(n: int, level: int = 128) -> np.ndarray:
    return np.full((n, 3, 32, 32), level, dtype=np.uint8)


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return natural_images(16)


def test_the_table_has_the_benchmarks_fifteen_then_four_extras_each_with_a_kind_of_parameters() -> None:
    assert len(names.STANDARD) == 15 and len(names.EXTRA) == 4 and CORRUPTIONS == names.STANDARD + names.EXTRA
    assert len(set(CORRUPTIONS)) == len(names.TABLE)
    assert [FAMILY[n] for n in names.STANDARD].count("weather") == 4 and {FAMILY[n] for n in names.EXTRA} == {"extra"}
    for row in names.TABLE:
        assert len(row.parameters) == len(SEVERITIES), row.name
        assert len({type(p) for p in row.parameters}) == 1 and row.parameters[0]._fields, row.name


def test_every_row_has_its_function_and_every_public_function_its_row() -> None:
    public = {name for name, value in vars(corruptions).items() if inspect.isfunction(value)
              and value.__module__ == corruptions.__name__ and not name.startswith("_")}
    assert set(corruptions._FUNCTIONS) == set(CORRUPTIONS) == public - {"corrupt"}
    assert all(corruptions._FUNCTIONS[name] is getattr(corruptions, name) for name in CORRUPTIONS)


def test_a_function_without_a_row_is_refused_when_it_registers() -> None:
    def smudge(x: np.ndarray, p: tuple, rng: np.random.Generator) -> np.ndarray:
        return x

    with pytest.raises(LookupError, match="'smudge' has no row"):
        corruptions._corruption(smudge)
    assert "smudge" not in corruptions._FUNCTIONS


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_shape_dtype_and_determinism(name: str, images: np.ndarray) -> None:
    out = corrupt(images, name, 3, seed=7)
    assert out.shape == images.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, corrupt(images, name, 3, seed=7))
    assert not np.array_equal(out, images)
    np.testing.assert_array_equal(images, natural_images(16))  # the input is left alone


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_only_random_corruptions_depend_on_the_seed(name: str, images: np.ndarray) -> None:
    same = np.array_equal(corrupt(images, name, 3, seed=0), corrupt(images, name, 3, seed=1))
    assert same == (name in DETERMINISTIC)


@pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n not in NOT_MONOTONE])
def test_distance_grows_with_severity(name: str, images: np.ndarray) -> None:
    distances = [mean_abs_difference(corrupt(images, name, s, seed=0), images) for s in SEVERITIES]
    assert distances[0] > 0
    grows = [a < b for a, b, s in zip(distances, distances[1:], SEVERITIES[1:]) if (name, s) not in SAME_DISTANCE]
    assert all(grows), distances


def test_motion_blur_severities_3_and_4_share_their_kernel() -> None:
    kernel_3, kernel_4 = (corruptions._motion_kernel(*parameters("motion_blur", s)) for s in (3, 4))
    assert len(kernel_4) > len(kernel_3)
    # Normalising over the extra taps too scales the shared ones by 1 - the extra taps' share, a change below that
    # share (the weights are under 1).
    extra_share = kernel_4[len(kernel_3):].sum()
    assert extra_share < 1e-9  # as SAME_DISTANCE says
    np.testing.assert_allclose(kernel_4[:len(kernel_3)], kernel_3, rtol=0, atol=extra_share)


def test_an_empty_batch_stays_empty() -> None:
    assert corrupt(np.zeros((0, 3, 32, 32), np.uint8), "gaussian_noise", 1, seed=0).shape == (0, 3, 32, 32)


@pytest.mark.parametrize(("name", "severity", "seed", "message"), [
    ("gaussian", 1, 0, "unknown corruption 'gaussian'; choose one of gaussian_noise, shot_noise"),
    ("fog", 0, 0, "severity must be one of 1, 2, 3, 4, 5, got 0"),
    ("fog", 6, 0, "severity must be one of 1, 2, 3, 4, 5, got 6"),
    ("fog", 2.0, 0, "severity must be one of 1, 2, 3, 4, 5, got 2.0"),
    ("fog", 1, -1, "seed must be a non-negative integer, got -1"),
])
def test_bad_choices_are_user_errors(name: str, severity: object, seed: int, message: str) -> None:
    with pytest.raises(UserError, match=message):
        corrupt(grey(1), name, severity, seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_gaussian_noise_has_the_severity_sigma(severity: int) -> None:
    # Mid-grey: at 5 sigma of 0.1 the noise stays inside [0, 1], so clipping does not shrink it.
    out = corrupt(grey(64), "gaussian_noise", severity, seed=0).astype(np.float64) / 255
    # Rounding to a level adds uniform error of variance 1 / 12 levels^2 (Sheppard's correction).
    std = np.sqrt(parameters("gaussian_noise", severity).std ** 2 + ROUNDING_VARIANCE / 255**2)
    # Within 4 standard errors: of a normal sample's standard deviation, std / sqrt(2 n), and of its mean.
    assert abs(out.std() / std - 1) < 4 / np.sqrt(2 * out.size)
    assert abs(out.mean() - 128 / 255) < 4 * std / np.sqrt(out.size)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_shot_noise_has_poisson_variance(severity: int) -> None:
    photons = parameters("shot_noise", severity).photons
    out = corrupt(grey(64, 64), "shot_noise", severity, seed=0).astype(np.float64)
    # The exact variance of round(255 * Poisson(x * photons) / photons), from the Poisson probabilities; in
    # float32 like the module, whose rounding decides the ties (k / photons * 255 = m + 1/2 for some counts k).
    counts = np.arange(0, 4 * photons)
    levels = np.rint(np.minimum((counts / photons).astype(np.float32), 1) * 255)
    probability = scipy.stats.poisson.pmf(counts, 64 / 255 * photons)
    mean = (probability * levels).sum()
    expected = (probability * (levels - mean) ** 2).sum()
    # Within 4 standard errors of the sample mean and (near-normal draws) of the sample variance.
    assert abs(out.mean() - mean) < 4 * np.sqrt(expected / out.size)
    assert abs(out.var() / expected - 1) < 4 * np.sqrt(2 / out.size)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_impulse_noise_replaces_the_expected_fraction(severity: int) -> None:
    out = corrupt(grey(256), "impulse_noise", severity, seed=0)
    amount = parameters("impulse_noise", severity).amount
    changed = out != 128  # every replaced value, 0 or 255, differs from mid-grey
    # Within 4 standard errors of binomial proportions: of the values replaced, and of those among them that
    # became 1 (probability 1/2).
    assert abs(changed.mean() - amount) < 4 * np.sqrt(amount * (1 - amount) / out.size)
    assert set(np.unique(out[changed])) == {0, 255}
    assert abs((out[changed] == 255).mean() - 0.5) < 4 * 0.5 / np.sqrt(changed.sum())


@pytest.mark.parametrize("level", [40, 120])
def test_speckle_noise_scales_with_the_value(level: int) -> None:
    out = corrupt(grey(32, level), "speckle_noise", 5, seed=0).astype(np.float64)
    # level * (1 + N(0, std^2)) in levels, plus the rounding's variance; within 4 standard errors of a normal
    # sample's standard deviation (clipping: 0 and 255 are over 5 std away).
    std = np.sqrt((level * parameters("speckle_noise", 5).std) ** 2 + ROUNDING_VARIANCE)
    assert abs(out.std() / std - 1) < 4 / np.sqrt(2 * out.size)
    assert abs(out.mean() - level) < 4 * std / np.sqrt(out.size)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_contrast_scales_the_range_about_the_mean(severity: int, images: np.ndarray) -> None:
    factor = parameters("contrast", severity).factor
    out = corrupt(images, "contrast", severity, seed=0).astype(np.float64)
    clean = images.astype(np.float64)
    mean = clean.mean(axis=(2, 3), keepdims=True)
    # Rounding to a level moves each value by at most half a level, and a range (the difference of two values) by
    # at most one; 1e-6 levels covers float32's rounding of values under 256.
    np.testing.assert_allclose(out, (clean - mean) * factor + mean, atol=0.5 + 1e-6)
    out_range = np.ptp(out, axis=(2, 3))
    np.testing.assert_allclose(out_range, factor * np.ptp(clean, axis=(2, 3)), atol=1.0 + 1e-6)


def hsv(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in [0, 6), saturation and value of uint8 (N, 3, H, W) images, by the textbook formulas."""
    x = images.astype(np.float64) / 255
    value, low = x.max(axis=1), x.min(axis=1)
    spread = value - low
    saturation = np.where(value > 0, spread / np.where(value > 0, value, 1), 0)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    safe = np.where(spread > 0, spread, 1)
    hue = np.select([spread == 0, value == r, value == g],
                    [0, ((g - b) / safe) % 6, (b - r) / safe + 2], (r - g) / safe + 4)
    return hue, saturation, value


def hue_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b)
    return np.minimum(d, 6 - d)  # hue is an angle: 0 and 6 are the same red


def hue_rounding_bound(images: np.ndarray) -> np.ndarray:
    """How far (in sextants) rounding each channel to the nearest level can have moved each pixel's hue.

    Hue is continuous, and within a sextant it is +-(mid - min) / (max - min) + a constant, whose gradient's
    absolute values sum to 2 / spread (spread = max - min, in levels). Each channel moved by at most 1/2 level (and
    float32's error, under 1e-4 levels), so the hue by at most 1 / spread, the spread being at least the rounded
    one - 1 along the way.
    """
    spread = images.max(axis=1).astype(np.float64) - images.min(axis=1)
    return (1 + 2e-4) / np.maximum(spread - 1, 1e-9)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_brightness_raises_hsv_value(severity: int, images: np.ndarray) -> None:
    shift = parameters("brightness", severity).shift
    hue, saturation, value = hsv(images)
    new_hue, new_saturation, new_value = hsv(corrupt(images, "brightness", severity, seed=0))
    np.testing.assert_allclose(new_value, np.minimum(value + shift, 1), atol=0.5 / 255 + 1e-6)  # half a level
    # Hue and saturation move only by the rounding to uint8 (more where few levels separate the channels).
    out = corrupt(images, "brightness", severity, seed=0)
    vivid = value - images.min(axis=1) / 255 > 40 / 255
    assert (hue_distance(new_hue, hue) <= hue_rounding_bound(out))[vivid].all()
    # Saturation (max - min) / max, rounding each channel by at most 1/2 level: the error is
    # |max * d_min - min * d_max| / (max * rounded max) <= (max + min) / 2 / (max * rounded max) <= 1 / rounded max.
    rounded_max = out.max(axis=1).astype(np.float64)
    assert (np.abs(new_saturation - saturation) <= 1 / rounded_max + 1e-6)[vivid].all()


@pytest.mark.parametrize("severity", SEVERITIES)
def test_saturate_scales_hsv_saturation(severity: int, images: np.ndarray) -> None:
    scale, shift = parameters("saturate", severity)
    hue, saturation, value = hsv(images)
    new_hue, new_saturation, new_value = hsv(corrupt(images, "saturate", severity, seed=0))
    out = corrupt(images, "saturate", severity, seed=0)
    # The largest channel is kept exactly, so the value is too, and the saturation (max - min) / max moves only by
    # the rounding of the smallest channel: at most 1/2 level / max.
    np.testing.assert_array_equal(new_value, value)
    vivid = (value - images.min(axis=1) / 255 > 40 / 255) & (value > 0.3)
    expected = np.clip(saturation * scale + shift, 0, 1)
    assert (np.abs(new_saturation - expected) <= 0.5 / (255 * value) + 1e-6)[vivid].all()
    # Pixels whose output channels are a level or two apart have a hue but a bound too wide to test it.
    judged = vivid & (out.max(axis=1).astype(np.int16) - out.min(axis=1) >= 4)
    assert judged.mean() > 0.5  # most vivid pixels are judged: the fixture's colours are not washed out
    assert (hue_distance(new_hue, hue) <= hue_rounding_bound(out))[judged].all()


@pytest.mark.parametrize("name", ["brightness", "saturate"])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_grey_images_stay_grey(name: str, severity: int) -> None:
    levels = np.arange(0, 256, 17, dtype=np.uint8)
    out = corrupt(np.broadcast_to(levels[:, None, None, None], (len(levels), 3, 32, 32)).copy(), name, severity, 0)
    assert (out == out[:, :1]).all()


def pillow_round_trip(images: np.ndarray, save: dict, resize: tuple[int, int] | None = None) -> np.ndarray:
    """Each image through Pillow: BOX-resized to `resize` and back, or saved with `save` options and decoded."""
    out = []
    for image in images.transpose(0, 2, 3, 1):
        picture = PIL.Image.fromarray(image)
        if resize:
            picture = picture.resize(resize, PIL.Image.BOX).resize(image.shape[:2][::-1], PIL.Image.BOX)
        else:
            buffer = io.BytesIO()
            picture.save(buffer, **save)
            picture = PIL.Image.open(buffer)
        out.append(np.asarray(picture))
    return np.stack(out).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_pixelate_is_pillows_box_resize_down_and_up(severity: int) -> None:
    noisy = np.random.default_rng(severity).integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8)
    small = int(32 * parameters("pixelate", severity).fraction)
    out = corrupt(noisy, "pixelate", severity, seed=0)
    np.testing.assert_array_equal(out, pillow_round_trip(noisy, {}, resize=(small, small)))
    # Blockwise constant: enlarging repeats each of the `small` pixels, so a row holds `small` runs at most.
    runs = 1 + (np.diff(out.astype(np.int16), axis=-1) != 0).sum(axis=-1)
    assert runs.max() == small


@pytest.mark.parametrize("severity", SEVERITIES)
def test_jpeg_compression_is_pillows_decode_at_the_quality(severity: int, images: np.ndarray) -> None:
    quality = parameters("jpeg_compression", severity).quality
    expected = pillow_round_trip(images, {"format": "JPEG", "quality": quality})
    np.testing.assert_array_equal(corrupt(images, "jpeg_compression", severity, seed=0), expected)


def displacement(where: np.ndarray) -> np.ndarray:
    """How far the pixel at each position of (N, 32, 32) `where` (its flat starting position) has moved."""
    return np.hypot(where // 32 - np.arange(32)[:, None], where % 32 - np.arange(32))


# The shuffle's sweeps with max_delta 1 as (row, col) visits: the reference's reverse raster order, and the
# four interleaved lattices `_local_shuffle` takes in turn (within a lattice the order does not matter).
RASTER_VISITS = [(row, col) for row in range(31, 1, -1) for col in range(31, 1, -1)]
LATTICE_VISITS = [(row, col) for row_phase in range(2) for col_phase in range(2)
                  for row in range(31 - row_phase, 1, -2) for col in range(31 - col_phase, 1, -2)]


def shuffle_chain(visits: list[tuple[int, int]]) -> np.ndarray:
    """P[i, j]: the exact probability that the pixel starting at flat position i ends a sweep at j.

    A visit swaps the pixel there with one of the four cells of the 2 x 2 block up and to its left, itself
    included, uniformly and independently of every other draw; so each pixel's position is a Markov chain: from the
    visited cell it goes to each block cell with probability 1/4, from another block cell to the visited one with
    probability 1/4.
    """
    chain = np.eye(32 * 32)
    for row, col in visits:
        here = row * 32 + col
        others = [here - 32, here - 1, here - 33]
        at_here, at_others = chain[:, here].copy(), chain[:, others].copy()
        chain[:, here] = (at_here + at_others.sum(axis=1)) / 4
        chain[:, others] = at_here[:, None] / 4 + at_others * 3 / 4
    return chain


def sequential_shuffle(n: int, rng: np.random.Generator) -> np.ndarray:
    """The reference's glass-blur shuffle (one sweep, max_delta 1) of `n` images: pixels visited one at a time in
    reverse raster order, each swapped with a neighbour at an offset drawn from {-1, 0}^2. Returns where each
    position's pixel started (flat), (n, 32, 32)."""
    images = []
    for _ in range(n):
        where = np.arange(32 * 32).reshape(32, 32)
        for row, col in RASTER_VISITS:
            d_row, d_col = rng.integers(-1, 1, size=2)
            where[row, col], where[row + d_row, col + d_col] = where[row + d_row, col + d_col], where[row, col]
        images.append(where)
    return np.array(images)


def assert_moves_like(where: np.ndarray, chain: np.ndarray) -> None:
    """The share of pixels moved and their mean distance in the images `where`, within 4 standard errors (from the
    spread over the images, which are independent) of what `chain` gives exactly."""
    distances = np.arange(32 * 32)
    distances = np.hypot(distances[:, None] // 32 - distances // 32, distances[:, None] % 32 - distances % 32)
    expected = {"moved": 1 - np.trace(chain) / 1024, "distance": (chain * distances).sum() / 1024}
    moved = displacement(where).reshape(len(where), -1)
    for name, per_image in (("moved", (moved > 0).mean(axis=1)), ("distance", moved.mean(axis=1))):
        error = per_image.std(ddof=1) / np.sqrt(len(per_image))
        assert abs(per_image.mean() - expected[name]) < 4 * error, (name, per_image.mean(), expected[name])


def test_glass_blur_shuffle_moves_pixels_as_its_lattice_sweeps_do() -> None:
    index = np.broadcast_to(np.arange(1024, dtype=np.float32).reshape(1, 1, 32, 32), (40, 1, 32, 32))
    lattice = shuffle_chain(LATTICE_VISITS)
    for sweeps in (1, 2):  # a second sweep draws afresh: its chain follows the first
        shuffled = corruptions._local_shuffle(index, 1, sweeps, np.random.default_rng(0)).astype(np.int64)[:, 0]
        assert (np.sort(shuffled.reshape(40, -1), axis=1) == np.arange(1024)).all()  # a permutation of each image
        assert_moves_like(shuffled, np.linalg.matrix_power(lattice, sweeps))


def test_the_lattice_sweep_moves_each_pixel_as_often_as_the_reference_sweep() -> None:
    raster = shuffle_chain(RASTER_VISITS)
    assert_moves_like(sequential_shuffle(20, np.random.default_rng(1)), raster)  # the chain is right
    # Exactly the same chance to stay put (float64 rounding over a few hundred sums of quarters stays below 1e-12).
    # How far the moved pixels go differs between the orders, a little (docs/corruptions.md).
    np.testing.assert_allclose(np.diag(shuffle_chain(LATTICE_VISITS)), np.diag(raster), rtol=0, atol=1e-12)


def plane_distance(images: np.ndarray) -> np.ndarray:
    """(N, C): how close, inside a 6-pixel margin, each image's channel comes to a plane a*row + b*col + c: the least
    largest distance over the planes (a Chebyshev fit, as a linear programme in a, b, c and the distance)."""
    rows, cols = np.mgrid[6:26, 6:26]
    design = np.stack([rows.ravel(), cols.ravel(), np.ones(rows.size)], axis=1)
    bounds = np.block([[design, -np.ones((rows.size, 1))], [-design, -np.ones((rows.size, 1))]])
    values = images[..., 6:26, 6:26].reshape(*images.shape[:2], rows.size).astype(np.float64)
    fits = [[scipy.optimize.linprog([0, 0, 0, 1], A_ub=bounds, b_ub=np.concatenate([v, -v]),
                                    bounds=[(None, None)] * 3 + [(0, None)]) for v in image] for image in values]
    return np.array([[fit.fun for fit in image] for image in fits])


def test_elastic_transform_is_affine_at_severity_1_and_warps_locally_above() -> None:
    # A colour ramp: an affine warp of it, sampled bilinearly inside the image, is again a ramp, while the random
    # displacement field bends it.
    rows, cols = np.mgrid[0:32, 0:32]
    ramp = np.stack([40 + 5 * rows, 30 + 4 * cols, 200 - 3 * rows - 2 * cols]).astype(np.uint8)
    ramps = np.broadcast_to(ramp, (8, 3, 32, 32)).copy()
    affine = corrupt(ramps, "elastic_transform", 1, seed=0)
    assert not np.array_equal(affine, ramps)
    # The plane itself is within the rounding's half level of every value (and float32's error, under 1e-4 levels).
    rounding = 0.5 + 1e-4
    assert (plane_distance(affine) <= rounding).all()
    for severity in SEVERITIES[1:]:  # no plane comes that close to any image
        warped = corrupt(ramps, "elastic_transform", severity, seed=0)
        assert (plane_distance(warped).max(axis=1) > rounding).all(), severity


@pytest.mark.parametrize("severity", SEVERITIES)
def test_frost_adds_a_weighted_texture_independent_of_the_image(severity: int, images: np.ndarray) -> None:
    image_weight, frost_weight = parameters("frost", severity)
    # On a black image frost is its weight times the texture drawn from the corruption's own generator.
    texture = frost_weight * corruptions._frost_texture(len(images), 32, corruptions._generator(3, "frost", severity))
    frosted_black = corrupt(np.zeros_like(images), "frost", severity, seed=3)
    np.testing.assert_array_equal(frosted_black, np.rint(np.clip(texture, 0, 1) * 255))
    out = corrupt(images, "frost", severity, seed=3).astype(np.float64)
    unclipped = out < 255
    assert unclipped.mean() > 0.9  # the comparison below judges most values: frost rarely saturates these images
    # Two roundings to a level, of the frosted image and of the frost alone, half a level each.
    np.testing.assert_allclose(out[unclipped], (image_weight * images + frosted_black)[unclipped], atol=1.0 + 1e-9)


def test_the_frost_texture_is_a_blue_tint_of_one_layer_in_0_1() -> None:
    texture = corruptions._frost_texture(16, 32, np.random.default_rng(0))
    assert texture.min() >= 0 and texture.max() <= 1
    # Each channel is the same layer times its tint (0.86, 0.93, 1); float32 rounding of the products, 2^-24 each.
    np.testing.assert_allclose(texture[:, :2], texture[:, 2:] * np.array([0.86, 0.93])[:, None, None],
                               rtol=2 ** -22, atol=0)


def test_a_plasma_fractal_is_as_often_light_as_dark() -> None:
    # The fractal is sums of uniform noise symmetric about 0, so h and -h are equally likely; scaled to [0, 1] they
    # give p and 1 - p, so every pixel's mean is 1/2. Within 4 standard errors of the fractals' (independent) means.
    means = corruptions._plasma(64, 32, 2.0, np.random.default_rng(0)).mean(axis=(1, 2))
    assert abs(means.mean() - 0.5) < 4 * means.std(ddof=1) / np.sqrt(len(means))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_fog_keeps_the_brightest_value_and_lifts_the_rest(severity: int, images: np.ndarray) -> None:
    strength = parameters("fog", severity).strength
    out = corrupt(images, "fog", severity, seed=0).astype(np.float64)
    brightest = images.max(axis=(1, 2, 3)).astype(np.float64)
    # x + strength * plasma, scaled by max / (max + strength), with the plasma in [0, 1] reaching 1 somewhere: no
    # value exceeds the brightest level, so none rounds above it, and none falls below the darkest scaled by
    # max / (max + strength) by more than the rounding's half level (float32's error on levels is under 1e-4).
    assert (out.max(axis=(1, 2, 3)) <= brightest).all()
    darkest = images.min(axis=(1, 2, 3)) * brightest / (brightest + 255 * strength)
    assert (out.min(axis=(1, 2, 3)) >= darkest - 0.5 - 1e-4).all()


@pytest.mark.parametrize("name", ["defocus_blur", "gaussian_blur", "motion_blur", "zoom_blur", "glass_blur"])
def test_blurs_leave_a_flat_image_alone(name: str) -> None:
    np.testing.assert_array_equal(corrupt(grey(4, 90), name, 5, seed=0), grey(4, 90))


def test_gaussian_blur_spreads_a_line_by_the_sampled_gaussian() -> None:
    line = np.zeros((1, 3, 32, 32), np.uint8)
    line[..., 16] = 255
    offsets = np.arange(32) - 16
    for severity in SEVERITIES:
        sigma = parameters("gaussian_blur", severity).sigma
        # The Gaussian sampled at whole-pixel offsets out to 4 sigma, normalised (at sigma < 1 its variance is
        # below sigma^2); each row of the blurred line is that profile.
        weights = np.exp(-(offsets**2) / (2 * sigma**2)) * (np.abs(offsets) <= int(4 * sigma + 0.5))
        profile = np.rint(255 * weights / weights.sum())
        blurred = corrupt(line, "gaussian_blur", severity, seed=0)[0].astype(np.float64)
        assert np.abs(blurred - profile).max() <= 1, severity  # both rounded to a level, half a level each
