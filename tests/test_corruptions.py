"""The CIFAR-10-C corruptions: seeded, shape- and range-keeping, growing with severity, and right where a parameter
has a closed-form meaning."""
from __future__ import annotations

import inspect
import io

import numpy as np
import PIL.Image
import pytest
import scipy.stats

from resnet_cifar.errors import UserError
from resnet_cifar.robustness import corruptions, names
from resnet_cifar.robustness.corruptions import corrupt
from resnet_cifar.robustness.names import CORRUPTIONS, FAMILY, ROWS, SEVERITIES

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
    np.testing.assert_allclose(kernel_4[:len(kernel_3)], kernel_3, atol=1e-8)


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
    # Mid-grey: at 4 sigma of 0.1 the noise stays inside [0, 1], so clipping does not shrink it.
    out = corrupt(grey(64), "gaussian_noise", severity, seed=0).astype(np.float64) / 255
    sigma = parameters("gaussian_noise", severity).std
    assert abs(out.std() - sigma) < 0.02 * sigma
    assert abs(out.mean() - 128 / 255) < 0.002


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
    out = corrupt(grey(64), "impulse_noise", severity, seed=0)
    amount = parameters("impulse_noise", severity).amount
    changed = out != 128
    assert abs(changed.mean() - amount) < 0.05 * amount
    assert set(np.unique(out[changed])) == {0, 255}
    assert abs((out[changed] == 255).mean() - 0.5) < 0.03


def test_speckle_noise_scales_with_the_value() -> None:
    dark, bright = (corrupt(grey(32, level), "speckle_noise", 5, seed=0).astype(np.float64) for level in (40, 120))
    assert abs(bright.std() / dark.std() - 3) < 0.1


@pytest.mark.parametrize("severity", SEVERITIES)
def test_contrast_scales_the_range_about_the_mean(severity: int, images: np.ndarray) -> None:
    factor = parameters("contrast", severity).factor
    out = corrupt(images, "contrast", severity, seed=0).astype(np.float64)
    clean = images.astype(np.float64)
    mean = clean.mean(axis=(2, 3), keepdims=True)
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


@pytest.mark.parametrize("severity", SEVERITIES)
def test_brightness_raises_hsv_value(severity: int, images: np.ndarray) -> None:
    shift = parameters("brightness", severity).shift
    hue, saturation, value = hsv(images)
    new_hue, new_saturation, new_value = hsv(corrupt(images, "brightness", severity, seed=0))
    np.testing.assert_allclose(new_value, np.minimum(value + shift, 1), atol=0.5 / 255 + 1e-9)
    # Hue and saturation move only by the rounding to uint8 (more where few levels separate the channels).
    vivid = value - images.min(axis=1) / 255 > 40 / 255
    assert hue_distance(new_hue, hue)[vivid].max() < 0.05
    assert np.abs(new_saturation - saturation)[vivid].max() < 0.02


@pytest.mark.parametrize("severity", SEVERITIES)
def test_saturate_scales_hsv_saturation(severity: int, images: np.ndarray) -> None:
    scale, shift = parameters("saturate", severity)
    hue, saturation, value = hsv(images)
    new_hue, new_saturation, new_value = hsv(corrupt(images, "saturate", severity, seed=0))
    np.testing.assert_allclose(new_value, value, atol=0.5 / 255 + 1e-9)
    vivid = (value - images.min(axis=1) / 255 > 40 / 255) & (value > 0.3)
    np.testing.assert_allclose(new_saturation[vivid], np.clip(saturation * scale + shift, 0, 1)[vivid], atol=0.01)
    # Rounding each channel by up to half a level moves the hue (in sextants) by at most 2 / (spread - 1), the
    # spread being the output's max - min channel in levels.
    out = corrupt(images, "saturate", severity, seed=0).astype(np.float64)
    spread = out.max(axis=1) - out.min(axis=1)
    judged = vivid & (spread >= 4)
    assert judged.mean() > 0.5
    assert (hue_distance(new_hue, hue) <= 2 / (spread - 1 + 1e-9))[judged].all()


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


def sequential_shuffle_displacement(n: int, rng: np.random.Generator) -> np.ndarray:
    """How far each pixel ends up from where it started under the reference's glass-blur shuffle (one sweep,
    max_delta 1): pixels visited one at a time in reverse raster order, each swapped with a neighbour at an offset
    drawn from {-1, 0}^2."""
    distances = []
    for _ in range(n):
        where = np.arange(32 * 32).reshape(32, 32)
        for row in range(31, 1, -1):
            for col in range(31, 1, -1):
                d_row, d_col = rng.integers(-1, 1, size=2)
                where[row, col], where[row + d_row, col + d_col] = where[row + d_row, col + d_col], where[row, col]
        distances.append(np.hypot(where // 32 - np.arange(32)[:, None], where % 32 - np.arange(32)))
    return np.array(distances)


def test_glass_blur_shuffle_moves_pixels_like_the_sequential_sweep() -> None:
    index = np.broadcast_to(np.arange(1024, dtype=np.float32).reshape(1, 1, 32, 32), (40, 1, 32, 32))
    shuffled = corruptions._local_shuffle(index, 1, 1, np.random.default_rng(0)).astype(np.int64)[:, 0]
    assert (np.sort(shuffled.reshape(40, -1), axis=1) == np.arange(1024)).all()  # a permutation of each image
    moved = np.hypot(shuffled // 32 - np.arange(32)[:, None], shuffled % 32 - np.arange(32))
    reference = sequential_shuffle_displacement(20, np.random.default_rng(1))
    # Each estimate's standard error is under 0.5%; the two ways differ in the tail (a sweep can carry a pixel
    # several steps), not in how many pixels move or how far they go on average.
    assert abs((moved > 0).mean() - (reference > 0).mean()) < 0.02
    assert abs(moved.mean() / reference.mean() - 1) < 0.08
    twice = corruptions._local_shuffle(index, 1, 2, np.random.default_rng(0)).astype(np.int64)[:, 0]
    assert np.hypot(twice // 32 - np.arange(32)[:, None], twice % 32 - np.arange(32)).mean() > 1.3 * moved.mean()


def planar_residual(images: np.ndarray) -> float:
    """Largest distance, inside a 6-pixel margin, of each channel from its best-fitting plane a*row + b*col + c."""
    rows, cols = np.mgrid[6:26, 6:26]
    design = np.stack([rows.ravel(), cols.ravel(), np.ones(rows.size)], axis=1)
    values = images[..., 6:26, 6:26].reshape(-1, rows.size).T.astype(np.float64)
    fit = design @ np.linalg.lstsq(design, values, rcond=None)[0]
    return float(np.abs(values - fit).max())


def test_elastic_transform_is_affine_at_severity_1_and_warps_locally_above() -> None:
    # A colour ramp: any affine warp of it is again a ramp, while the random displacement field bends it.
    rows, cols = np.mgrid[0:32, 0:32]
    ramp = np.stack([40 + 5 * rows, 30 + 4 * cols, 200 - 3 * rows - 2 * cols]).astype(np.uint8)
    ramps = np.broadcast_to(ramp, (8, 3, 32, 32)).copy()
    affine = corrupt(ramps, "elastic_transform", 1, seed=0)
    assert not np.array_equal(affine, ramps)
    assert planar_residual(affine) <= 1.0  # rounding only
    assert planar_residual(corrupt(ramps, "elastic_transform", 5, seed=0)) > 5


@pytest.mark.parametrize("severity", SEVERITIES)
def test_frost_adds_a_weighted_texture_independent_of_the_image(severity: int, images: np.ndarray) -> None:
    image_weight, frost_weight = parameters("frost", severity)
    dark = np.zeros_like(images)
    texture = corrupt(dark, "frost", severity, seed=3).astype(np.float64)  # frost weight times the texture
    out = corrupt(images, "frost", severity, seed=3).astype(np.float64)
    unclipped = out < 255
    assert unclipped.mean() > 0.9
    np.testing.assert_allclose(out[unclipped], (image_weight * images + texture)[unclipped], atol=1.0 + 1e-9)
    assert 0.3 < texture.mean() / 255 / frost_weight < 0.7  # a bright, pale layer (see _frost_texture)
    assert (texture[:, 2] >= texture[:, 0]).all()  # tinted blue


@pytest.mark.parametrize("severity", SEVERITIES)
def test_fog_keeps_the_brightest_value_and_lifts_the_rest(severity: int, images: np.ndarray) -> None:
    strength = parameters("fog", severity).strength
    out = corrupt(images, "fog", severity, seed=0).astype(np.float64)
    brightest = images.max(axis=(1, 2, 3)).astype(np.float64)
    # x + strength * plasma, scaled by max / (max + strength), with the plasma in [0, 1] reaching 1 somewhere.
    assert (out.max(axis=(1, 2, 3)) <= brightest + 1).all()
    darkest = images.min(axis=(1, 2, 3)) * brightest / (brightest + 255 * strength)
    assert (out.min(axis=(1, 2, 3)) >= darkest - 1).all()


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
        assert np.abs(blurred - profile).max() <= 1, severity
