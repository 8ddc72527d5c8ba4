"""What a search shows once it stops: the summary of its study (counts, epochs trained, the best trial, how much
each parameter mattered, the last failures), the table of its complete trials, and the figures (figures/search.py)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from optuna.importance import FanovaImportanceEvaluator, get_param_importances
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from ..experiments.uncertainty import binomial_se
from ..figures.search import save_search_figures
from .space import Choices, Dimension
from .study import EXPERIMENT, FAILURE, TEST_ACCURACY, best, complete, counts, failed, finished
from .trial import OBJECTIVE_NAME

VAL_SIZE = "data.val_size"
EPOCHS = "train.epochs"
IMPORTANCE_SEED = 0  # fANOVA fits a random forest: seeded, the same study gives the same importances
LAST_FAILURES = 5  # the summary's list of failures: the latest few, whose logs are still to hand


def validation_images(trial: FrozenTrial, default: int | None) -> int | None:
    """How many validation images scored the trial: its own data.val_size when the space varies it."""
    return trial.params.get(VAL_SIZE, default)


def trials_table(study: Study, space: dict[str, Dimension], val_images: int | None = None) -> pd.DataFrame:
    """One row per complete trial: number, value, its binomial standard error on the validation images (nan when
    their number is not given), test accuracy, experiment, the parameters."""
    rows = [{"number": t.number, "value": t.value, "se": binomial_se(t.value, validation_images(t, val_images) or 0),
             "test_accuracy": t.user_attrs.get(TEST_ACCURACY), "experiment": t.user_attrs.get(EXPERIMENT),
             **t.params} for t in complete(study)]
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


def epochs_trained(trial: FrozenTrial, epochs: int | None) -> int:
    """The epochs a finished trial trained: a pruned one's up to the last it reported, a complete one's all of
    them (its own train.epochs where the space varies it, else `epochs`, the project's)."""
    if trial.state == TrialState.PRUNED:
        return max(trial.intermediate_values, default=0)
    return int(trial.params.get(EPOCHS, epochs or max(trial.intermediate_values, default=0)))


def epochs_line(study: Study, epochs: int | None) -> str | None:
    """How many epochs the finished trials trained against all of theirs, when pruning stopped any."""
    trials = finished(study)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    if not pruned:
        return None
    trained = sum(epochs_trained(t, epochs) for t in trials)
    planned = sum(int(t.params.get(EPOCHS, epochs or 0)) for t in trials)
    saved = f" (pruning saved {1 - trained / planned:.0%})" if planned else ""
    return f"epochs trained: {trained} of the {planned} that {len(trials)} finished trials would train{saved}"


def importances(study: Study) -> dict[str, float]:
    """Each parameter's share of the objective's variance across the complete trials (Optuna's fANOVA), largest
    first; empty when fewer than two complete trials vary a parameter."""
    if len(complete(study)) < 2:
        return {}
    try:
        return get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=IMPORTANCE_SEED))
    except (RuntimeError, ValueError):  # a parameter that never varied, say: nothing to apportion
        return {}


def importance_lines(study: Study) -> list[str]:
    shares = importances(study)
    if not shares:
        return ["importance: needs at least two complete trials with different parameters"]
    return [f"importance (fANOVA over {len(complete(study))} complete trials, share of the variance of "
            f"{OBJECTIVE_NAME}; few trials give rough shares):",
            *(f"  {key}: {share:.2f}" for key, share in shares.items())]


def summary(study: Study, val_images: int | None = None, epochs: int | None = None) -> str:
    """The counts by state and the epochs pruning saved; the best complete trial, its parameters, the standard
    error of its objective when the number of validation images is given, and its test accuracy for information;
    each parameter's importance; the last failures. `epochs`: the project's train.epochs."""
    states = counts(study)
    lines = [f"study {study.study_name}: {states['COMPLETE']} complete, {states['FAIL']} failed, "
             f"{states['PRUNED']} pruned, {states['RUNNING']} running"]
    lines += [line for line in [epochs_line(study, epochs)] if line]
    top = best(study)
    if top is not None:
        lines += best_lines(top, val_images)
        lines += importance_lines(study)
    lines += [f"failed: trial {t.number}: {t.user_attrs[FAILURE]}" for t in failed(study)[-LAST_FAILURES:]]
    return "\n".join(lines)


def epoch_curves(study: Study) -> dict[int, tuple[dict[int, float], bool]]:
    """Each finished trial's validation accuracy per epoch, and whether it was pruned, by trial number."""
    return {t.number: (dict(sorted(t.intermediate_values.items())), t.state == TrialState.PRUNED)
            for t in finished(study) if t.intermediate_values}


def draw_figures(study: Study, space: dict[str, Dimension], folder: Path, val_images: int | None) -> None:
    """The best objective so far, each parameter against the objective, the parameters' importances and the
    trials' validation accuracy per epoch (pruned ones marked), into `folder`; a line naming them."""
    log_axes = {key: not isinstance(dim, Choices) and dim.log for key, dim in space.items()}
    paths = save_search_figures(trials_table(study, space, val_images), log_axes, OBJECTIVE_NAME, folder,
                                importances(study), epoch_curves(study))
    print("figures: " + ", ".join(map(str, paths)))
