"""What a search shows once it stops: the summary of its study, the table of its finished trials, and the figures
drawn from that table (figures/search.py)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from optuna.study import Study
from optuna.trial import FrozenTrial

from ..experiments.uncertainty import binomial_se
from ..figures.search import save_search_figures
from .space import Choices, Dimension
from .study import EXPERIMENT, FAILURE, TEST_ACCURACY, best, counts, failed, finished
from .trial import OBJECTIVE_NAME

VAL_SIZE = "data.val_size"
LAST_FAILURES = 5  # the summary's list of failures: the latest few, whose logs are still to hand


def validation_images(trial: FrozenTrial, default: int | None) -> int | None:
    """How many validation images scored the trial: its own data.val_size when the space varies it."""
    return trial.params.get(VAL_SIZE, default)


def trials_table(study: Study, space: dict[str, Dimension], val_images: int | None = None) -> pd.DataFrame:
    """One row per finished trial: number, value, its binomial standard error on the validation images (nan when
    their number is not given), test accuracy, experiment, the parameters."""
    rows = [{"number": t.number, "value": t.value, "se": binomial_se(t.value, validation_images(t, val_images) or 0),
             "test_accuracy": t.user_attrs.get(TEST_ACCURACY), "experiment": t.user_attrs.get(EXPERIMENT),
             **t.params} for t in finished(study)]
    return pd.DataFrame(rows, columns=["number", "value", "se", "test_accuracy", "experiment", *space])


def best_lines(trial: FrozenTrial, val_images: int | None) -> list[str]:
    """The best trial with the standard error of its objective when the number of validation images is known, its
    test accuracy for information, and its parameters."""
    test = trial.user_attrs.get(TEST_ACCURACY)
    images = validation_images(trial, val_images)
    sure = f" ± {binomial_se(trial.value, images):.4f} (1 standard error, {images} images)" if images else ""
    return [f"best: trial {trial.number} ({trial.user_attrs.get(EXPERIMENT)}) {OBJECTIVE_NAME} {trial.value:.4f}"
            f"{sure} (test accuracy {'-' if test is None else f'{test:.4f}'}, for information only)",
            *(f"  {key}: {value}" for key, value in trial.params.items())]


def summary(study: Study, val_images: int | None = None) -> str:
    """The counts by state; the best trial, its parameters, the standard error of its objective when the number of
    validation images is given, and its test accuracy for information; the last failures."""
    states = counts(study)
    lines = [f"study {study.study_name}: {states['COMPLETE']} complete, {states['FAIL']} failed, "
             f"{states['PRUNED']} pruned, {states['RUNNING']} running"]
    top = best(study)
    if top is not None:
        lines += best_lines(top, val_images)
    lines += [f"failed: trial {t.number}: {t.user_attrs[FAILURE]}" for t in failed(study)[-LAST_FAILURES:]]
    return "\n".join(lines)


def draw_figures(study: Study, space: dict[str, Dimension], folder: Path, val_images: int | None) -> None:
    """The best objective so far and each parameter against the objective, into `folder`; a line naming them."""
    log_axes = {key: not isinstance(dim, Choices) and dim.log for key, dim in space.items()}
    paths = save_search_figures(trials_table(study, space, val_images), log_axes, OBJECTIVE_NAME, folder)
    print("figures: " + ", ".join(map(str, paths)))
