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
import sys
from pathlib import Path

from ..errors import report_user_errors
from ..experiments.store import project_root
from ..paths import STAGE_FILES
from ..search.runner import run_search
from ..search.trial import TARGET

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
    parser.add_argument("--through", choices=list(STAGE_FILES), default=TARGET, metavar="STAGE",
                        help=f"run each trial's pipeline up to this stage (default {TARGET}: what the search reads; "
                             "plot: the whole pipeline). `dvc exp apply NAME` then `dvc repro` completes a trial")
    args = parser.parse_args(argv)
    if args.trials < 1 or (args.max_failures is not None and args.max_failures < 1):
        parser.error("--trials and --max-failures must be at least 1")
    args.study = args.study or args.space.stem
    args.max_failures = args.max_failures or args.trials
    if not STUDY_NAME.fullmatch(args.study):
        parser.error(f"study name {args.study!r}: use letters, digits, '_' and '-' (it names git refs)")
    return args


@report_user_errors
def main() -> None:
    args = parse_args(sys.argv[1:])
    args.space, args.plots = args.space.resolve(), args.plots and args.plots.resolve()
    os.chdir(project_root())
    run_search(args.space, args.trials, study_name=args.study, storage=args.storage, seed=args.seed,
               max_failures=args.max_failures, plots=args.plots, target=args.through)


if __name__ == "__main__":
    main()
