"""What a search costs, arm against arm: each arm is the search (`python -m resnet_cifar.tools.search`) with its own
space file and options, in a clone of this repository of its own (its own DVC cache and run-cache, so no arm
restores another's trials), on the archive given. The arms take turns, one trial each (the same command with
`--trials 1`, then 2, ...: a study continued, whose sampler draws what one long search would), so whatever else
the machine does falls on both alike.

Printed: each trial's seconds as the search reports them and its outcome, then per arm the whole wall time of its
commands, the seconds of its trials and how many of them were spent training (the experiments' time.train_seconds;
a pruned trial's training is not counted) and outside training, the epochs trained, the best objective with its
standard error, and each arm's wall time against the first arm's.

    # the defaults' search, whole pipeline per trial against through evaluate (issue 42, item 1)
    python benchmarks/search_cost.py --archive cifar-10-python.tar.gz --trials 8 \\
        --arm 'whole:recipes/search/defaults.yaml:--through plot' --arm 'evaluate:recipes/search/defaults.yaml'
    # a multi-epoch search, unpruned against pruned (the space's median rule)
    python benchmarks/search_cost.py --archive cifar-10-python.tar.gz --trials 10 --set data.train_size=5000 \\
        --set train.epochs=4 --set model.image_size=16 --set 'train.early_image_sizes=[8, 12]' \\
        --arm unpruned:recipes/search/epochs.yaml:pruner=none --arm pruned:recipes/search/epochs.yaml
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import yaml

from resnet_cifar.archive.download import md5sum
from resnet_cifar.config import read_yaml_text
from resnet_cifar.experiments.uncertainty import binomial_se
from resnet_cifar.search.report import epochs_trained
from resnet_cifar.search.study import finished

REPO = Path(__file__).resolve().parents[1]
TRIAL_LINE = re.compile(r"^trial (\d+) (.*) \((\d+) s\)$")


@dataclass
class Arm:
    label: str
    space: Path
    options: list[str]
    clone: Path = Path()
    wall: float = 0.0
    lines: list[str] = field(default_factory=list)


def parse_arm(text: str) -> Arm:
    """LABEL:SPACE[:OPTIONS]; an option `pruner=NAME` runs the space with that pruner instead of its own."""
    label, space, *options = text.split(":", 2)
    return Arm(label, (REPO / space).resolve(), shlex.split(options[0]) if options else [])


def space_with_pruner(arm: Arm) -> None:
    """The arm's space file, copied into its clone with the pruner its options name, if they name one."""
    named = [option for option in arm.options if option.startswith("pruner=")]
    if not named:
        return
    lines = [line for line in arm.space.read_text().splitlines() if not line.startswith("pruner:")]
    arm.space = arm.clone / ".search" / "space.yaml"  # git-ignored
    arm.space.parent.mkdir(exist_ok=True)
    arm.space.write_text("\n".join([f"pruner: {named[-1].removeprefix('pruner=')}", *lines]) + "\n")
    arm.options = [option for option in arm.options if option not in named]


def set_dotted(tree: dict, key: str, value: object) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        tree = tree[part]
    tree[leaf] = value


def make_clone(arm: Arm, work: Path, settings: dict) -> None:
    """A clone of this repository's HEAD whose params.yaml reads the archive and carries `settings`, committed."""
    arm.clone = work / arm.label
    subprocess.run(["git", "clone", "-q", str(REPO), str(arm.clone)], check=True)
    params_file = arm.clone / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    for key, value in settings.items():
        set_dotted(params, key, value)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "-C", str(arm.clone), "commit", "-qam", "benchmark settings"], check=True)
    space_with_pruner(arm)


def run_one_more(arm: Arm, total: int, seed: int) -> None:
    """The arm's search continued to `total` trials; its trial lines kept."""
    command = [sys.executable, "-m", "resnet_cifar.tools.search", str(arm.space), "--trials", str(total),
               "--study", "bench", "--seed", str(seed), *arm.options]
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(arm.clone / "src")}  # the clone's code, whatever the working tree holds
    done = subprocess.run(command, cwd=arm.clone, env=env, capture_output=True, text=True)
    arm.wall += time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{arm.label}: the search failed:\n{done.stdout}{done.stderr}")
    for line in done.stdout.splitlines():
        if TRIAL_LINE.match(line) or " pruned at epoch " in line:
            arm.lines.append(line)
            print(f"{arm.label}: {line}", flush=True)


def training_seconds(arm: Arm) -> float:
    """The seconds the arm's trial experiments spent training (their time.train_seconds, as `dvc exp show` lists
    them): the part of a trial that is the same in every arm but for the machine's noise."""
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=arm.clone,
                           capture_output=True, text=True, check=True).stdout
    total = 0.0
    for row in json.loads(shown):
        for experiment in row.get("experiments") or []:
            if (experiment.get("name") or "").startswith("bench-"):
                metrics = experiment["revs"][0]["data"]["metrics"]["metrics/train/metrics.json"]["data"]
                total += metrics["time"]["train_seconds"]
    return total


def arm_summary(arm: Arm, baseline: Arm | None) -> dict:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{arm.clone / '.search' / 'bench.db'}")
    params = yaml.safe_load((arm.clone / "params.yaml").read_text())
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value)
    val_images = params["data"]["val_size"]
    seconds = sum(int(m[3]) for m in map(TRIAL_LINE.match, arm.lines) if m)
    training = training_seconds(arm)
    return {"arm": arm.label, "wall_s": round(arm.wall, 1), "trial_seconds": seconds,
            "training_s": round(training, 1), "outside_training_s": round(seconds - training, 1),
            "per_trial_s": round(seconds / len(study.trials), 1), "trials": len(study.trials),
            "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
            "epochs_trained": sum(epochs_trained(t, params["train"]["epochs"]) for t in finished(study)),
            "best_value": best.value,
            "best_se": round(binomial_se(best.value, val_images), 4), "best_trial": best.number,
            "speedup_vs_first": round(baseline.wall / arm.wall, 3) if baseline else 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, required=True, help="the CIFAR-10 archive (.tar.gz)")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="the search's --seed, the same in every arm")
    parser.add_argument("--arm", action="append", required=True, metavar="LABEL:SPACE[:OPTIONS]",
                        help="an arm: a label, a space file (from the repository root) and the search's options")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a params.yaml value of every arm's clone (YAML), e.g. data.train_size=10000")
    parser.add_argument("--work", type=Path, default=Path("/tmp/search-cost"), help="where the clones go (new)")
    args = parser.parse_args()
    archive = args.archive.resolve()
    settings = {"data.url": str(archive), "data.md5": md5sum(archive),
                **{key: read_yaml_text(value) for key, value in (s.split("=", 1) for s in args.set)}}
    args.work.mkdir(parents=True)
    arms = [parse_arm(text) for text in args.arm]
    for arm in arms:
        make_clone(arm, args.work, settings)
    for total in range(1, args.trials + 1):
        for arm in arms:
            run_one_more(arm, total, args.seed)
    print(json.dumps({"settings": {k: v for k, v in settings.items() if k != "data.url"},
                      "arms": [arm_summary(arm, arms[0] if i else None) for i, arm in enumerate(arms)]}, indent=1))


if __name__ == "__main__":
    main()
