"""The names of the CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019), their families and severities:
plain data, so that params validation and the report read them without loading the corruptions' code
(corruptions.py, which needs scipy and Pillow)."""

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
