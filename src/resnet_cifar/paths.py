"""Where the pipeline's files live, relative to the repository root, where `dvc repro` runs the stages.

Every stage reads and writes these paths and no others. dvc.yaml spells them again, as each stage's deps and outs:
`STAGE_FILES` below says per stage what it reads and writes, and tests/test_paths.py holds it to dvc.yaml both
ways. Imports nothing of the package, so that benchmarks and tools can take a path without loading numpy or torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# download: per data.dataset, the one top-level folder of the official archive's members, or the folder of your
# images converted to arrays (`data.images.pack_image_folder`)
RAW = Path("data/raw")
RAW_FOLDERS = {"cifar10": RAW / "cifar-10-batches-py", "cifar100": RAW / "cifar-100-python", "folder": RAW / "images"}
RAW_BATCHES = RAW_FOLDERS["cifar10"]
RAW_IMAGE_SPLITS = {split: RAW_FOLDERS["folder"] / f"{split}.npz" for split in ("train", "test")}

# subset: one file per split, in the layout of `data.dataset.save_split`
SUBSETS = Path("data/subsets")
SUBSET_FILES = {split: SUBSETS / f"{split}.npz" for split in ("train", "val", "test")}
TRAIN_SUBSET = SUBSET_FILES["train"]
VAL_SUBSET = SUBSET_FILES["val"]
TEST_SUBSET = SUBSET_FILES["test"]

# train
MODELS = Path("models")
BEST_CHECKPOINT = MODELS / "best.pt"  # the best validation epoch's weights: what evaluation and sharing use
LAST_CHECKPOINT = MODELS / "last.pt"
MODEL_SUMMARY = MODELS / "summary.txt"
TRAIN_LIVE = Path("metrics/train")  # DVCLive's folder
TRAIN_METRICS = TRAIN_LIVE / "metrics.json"
TRAIN_PLOTS = TRAIN_LIVE / "plots"  # the per-epoch curves and the curve within epochs
TRAIN_PROGRESS = TRAIN_PLOTS / "progress.tsv"  # the curve within epochs, beside DVCLive's per-epoch files
MODEL_METRICS = Path("metrics/model.json")
# Git-ignored, not an out: removed when the run completes. train.remote_resume keeps a copy on the DVC remote too,
# under resume/<fingerprint>/ (engine/remote_resume.py).
RESUME_STATE = Path(".resume/train.pt")

# evaluate
RESULTS = Path("results")
EVALUATE_METRICS = Path("metrics/evaluate.json")
PREDICTIONS = RESULTS / "predictions.npz"
FEATURES = RESULTS / "features.npz"
CLASSIFICATION_REPORT = RESULTS / "classification_report.csv"
CALIBRATION = RESULTS / "calibration.csv"
CONFUSION = RESULTS / "confusion.csv"
PER_CLASS = RESULTS / "per_class.csv"

# corrupt: clean.npz, and a file per corruption (`robustness.selection.corruption_file`)
CORRUPTED = Path("data/corrupted")
CORRUPTED_CLEAN = CORRUPTED / "clean.npz"

# robustness
ROBUSTNESS_METRICS = Path("metrics/robustness.json")
ROBUSTNESS_TABLE = RESULTS / "robustness.csv"

# plot: a figure per name
FIGURES = Path("plots")
FIGURE_FILES = {name: FIGURES / f"{name}.png" for name in (
    "history", "correct", "confident_mistakes", "confusion", "per_class_accuracy", "reliability", "tsne",
    "robustness", "corruptions")}


@dataclass(frozen=True)
class StageFiles:
    """What a stage reads (its deps in dvc.yaml other than code) and writes (its outs)."""

    reads: tuple[Path, ...]
    writes: tuple[Path, ...]


STAGE_FILES = {
    "download": StageFiles(reads=(), writes=(RAW,)),
    "subset": StageFiles(reads=(RAW,), writes=(SUBSETS,)),
    "train": StageFiles(reads=(TRAIN_SUBSET, VAL_SUBSET),
                        writes=(BEST_CHECKPOINT, LAST_CHECKPOINT, MODEL_SUMMARY, TRAIN_PLOTS, TRAIN_METRICS,
                                MODEL_METRICS)),
    "evaluate": StageFiles(reads=(BEST_CHECKPOINT, TEST_SUBSET),
                           writes=(PREDICTIONS, FEATURES, CLASSIFICATION_REPORT, CALIBRATION, CONFUSION, PER_CLASS,
                                   EVALUATE_METRICS)),
    "corrupt": StageFiles(reads=(TEST_SUBSET,), writes=(CORRUPTED,)),
    "robustness": StageFiles(reads=(BEST_CHECKPOINT, CORRUPTED), writes=(ROBUSTNESS_METRICS, ROBUSTNESS_TABLE)),
    "plot": StageFiles(reads=(TRAIN_PLOTS, EVALUATE_METRICS, PREDICTIONS, FEATURES, CLASSIFICATION_REPORT,
                              CALIBRATION, TEST_SUBSET, ROBUSTNESS_METRICS, ROBUSTNESS_TABLE, CORRUPTED),
                       writes=tuple(FIGURE_FILES.values())),
}
