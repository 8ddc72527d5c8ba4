"""Search hyperparameters with Optuna, each trial a DVC experiment.

`python -m resnet_cifar.tools.search SPACE.yaml --trials N` runs trials until the study holds N finished ones: each
is `dvc exp run --temp --name <study>-<trial> -S key=value ...`, listed by `dvc exp show` and compare, pushable
with `dvc exp push`; the workspace is left as it is. The objective is the best validation accuracy (best.val_acc),
never a test score. Run it again, after a kill or with a larger N, and it continues the study.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path

import optuna
import pandas as pd
from dvc.exceptions import NotDvcRepoError
from dvc.repo import Repo

from ..config import load_params
from ..errors import UserError, report_user_errors
from ..experiments.uncertainty import binomial_se
from ..figures.search import save_search_figures
from ..search.runner import Search
from ..search.space import Choices, Dimension, load_space
from ..search.study import (
    EXPERIMENT,
    FAILURE,
    STUDY_FOLDER,
    TEST_ACCURACY,
    counts,
    default_storage,
    fail_orphans,
    finished,
    open_study,
)
from ..search.trial import OBJECTIVE_NAME

EPILOG = """\
space file: one params.yaml key per line, e.g.
  train.lr: {low: 0.05, high: 1.0, log: true}
  train.epochs: {low: 1, high: 4}
  train.flip: {choices: [none, random]}
Several processes or machines can run one study: give each the same --study and a shared --storage
(postgresql://user:password@host/db). Trials' logs and the figures go to .search/ (git-ignored)."""

STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # a prefix of experiment names, which are git ref names


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m resnet_cifar.tools.search", description=__doc__.split("\n\n")[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("space", type=Path, help="the search space, a YAML file (recipes/search/defaults.yaml)")
    parser.add_argument("--trials", type=int, required=True, metavar="N",
                        help="the study's total of finished trials: run until it holds N")
    parser.add_argument("--study", help="the study's name, the prefix of its experiments' names "
                                        "(default: the space file's name without .yaml)")
    parser.add_argument("--storage", metavar="URL", help="an Optuna storage URL, e.g. postgresql://... "
                                                         "(default: sqlite:///.search/STUDY.db)")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed (TPE; default 0)")
    parser.add_argument("--max-failures", type=int, metavar="K",
                        help="stop after K failed trials of this process (default: N)")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="where the figures go (default: .search/STUDY)")
    args = parser.parse_args(argv)
    if args.trials < 1 or (args.max_failures is not None and args.max_failures < 1):
        parser.error("--trials and --max-failures must be at least 1")
    args.study = args.study or args.space.stem
    if not STUDY_NAME.fullmatch(args.study):
        parser.error(f"study name {args.study!r}: use letters, digits, '_' and '-' (it names git refs)")
    return args


VAL_SIZE = "data.val_size"


def validation_images(trial: optuna.trial.FrozenTrial, default: int | None) -> int | None:
    """How many validation images scored the trial: its own data.val_size when the space varies it."""
    return trial.params.get(VAL_SIZE, default)


def trials_table(study: optuna.Study, space: dict[str, Dimension], val_images: int | None = None) -> pd.DataFrame:
    """One row per finished trial: number, value, its binomial standard error on the validation images (nan when
    their number is not given), test accuracy, experiment, the parameters."""
    rows = [{"number": t.number, "value": t.value, "se": binomial_se(t.value, validation_images(t, val_images) or 0),
             "test_accuracy": t.user_attrs.get(TEST_ACCURACY), "experiment": t.user_attrs.get(EXPERIMENT),
             **t.params} for t in finished(study)]
    return pd.DataFrame(rows, columns=["number", "value", "se", "test_accuracy", "experiment", *space])


def summary(study: optuna.Study, val_images: int | None = None) -> str:
    """The counts by state; the best trial with its parameters, the standard error of its objective when the
    number of validation images is given, and its test accuracy for information; the last failures."""
    states = counts(study)
    lines = [f"study {study.study_name}: {states['COMPLETE']} complete, {states['FAIL']} failed, "
             f"{states['PRUNED']} pruned, {states['RUNNING']} running"]
    done = [t for t in finished(study) if t.value is not None]
    if done:
        best = max(done, key=lambda t: t.value)
        test = best.user_attrs.get(TEST_ACCURACY)
        images = validation_images(best, val_images)
        sure = f" ± {binomial_se(best.value, images):.4f} (1 standard error, {images} images)" if images else ""
        lines += [f"best: trial {best.number} ({best.user_attrs.get(EXPERIMENT)}) {OBJECTIVE_NAME} {best.value:.4f}"
                  f"{sure} (test accuracy {'-' if test is None else f'{test:.4f}'}, for information only)",
                  *(f"  {key}: {value}" for key, value in best.params.items())]
    failed = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(FAILURE)]
    lines += [f"failed: trial {t.number}: {t.user_attrs[FAILURE]}" for t in failed[-5:]]
    return "\n".join(lines)


def draw(study: optuna.Study, space: dict[str, Dimension], folder: Path, val_images: int | None) -> None:
    log_axes = {key: not isinstance(dim, Choices) and dim.log for key, dim in space.items()}
    paths = save_search_figures(trials_table(study, space, val_images), log_axes, OBJECTIVE_NAME, folder)
    print("figures: " + ", ".join(map(str, paths)))


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the running experiment is stopped and its trial recorded as interrupted."""
    raise KeyboardInterrupt


def project_root() -> Path:
    """The DVC project's root, where the trials run and the study folder lives, from anywhere inside it."""
    try:
        return Path(Repo.find_root())
    except NotDvcRepoError as err:
        raise UserError("not inside a DVC project: run the search in the pipeline's repository") from err


@report_user_errors
def main() -> None:
    args = parse_args(sys.argv[1:])
    args.space, args.plots = args.space.resolve(), args.plots and args.plots.resolve()
    os.chdir(project_root())
    space = load_space(args.space)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the search prints its own line per trial
    study = open_study(args.study, args.storage or default_storage(args.study), args.seed)
    for number in fail_orphans(study):
        print(f"trial {number} was interrupted by a killed search: marked failed, to be run again")
    search = Search(study, space, args.trials, args.max_failures or args.trials)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        search.run()
    except KeyboardInterrupt:
        raise UserError("interrupted: run the same command again to continue the study") from None
    val_images = load_params().data.val_size  # the project's; a trial's own where the space varies it
    print(summary(study, val_images))
    draw(study, space, args.plots or STUDY_FOLDER / args.study, val_images)
    if search.failures >= search.max_failures:
        raise UserError(f"stopped after {search.failures} failed trials (--max-failures {search.max_failures}); "
                        f"the reasons are above, the logs in {search.logs}")


if __name__ == "__main__":
    main()
