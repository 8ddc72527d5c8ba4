"""Projects for the e2e tests: fresh git repositories holding a copy of this project's pipeline, the commands run in
them, and the params they change."""
import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from committed import REPO, committed_params_text

PROJECT_FILES = ("dvc.yaml", "params.yaml", "stages", "src", ".dvc/config", ".dvc/plots", ".dvcignore")
TINY = {"train_size": 64, "val_size": 32, "test_size": 40}  # subset sizes of the tiny pipeline
TINY_ROBUSTNESS = {"images": 24}  # a sample of the 40 test images, under every corruption of the committed params


def command_env() -> dict[str, str]:
    """The environment for `dvc` and `git` subprocesses: this venv first on PATH, a throwaway git identity."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.invalid",
               DVC_NO_ANALYTICS="1", DVCLIVE_LOGLEVEL="WARNING")
    return env


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=command_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def make_project(dest: Path) -> Path:
    """A fresh git repository holding a copy of this project's pipeline (as a user's clone would): the code of this
    checkout, the committed params.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name == "params.yaml":
            target.write_text(committed_params_text())
        elif src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, target)
    run(dest, "git", "init", "-q", "-b", "main")
    return dest


def ran_stages(output: str) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` output says it ran, in order."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def set_params(project: Path, **sections: dict) -> None:
    """Update params.yaml section by section, e.g. set_params(project, train={"epochs": 2})."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def predictions_at(project: Path, rev: str) -> np.lib.npyio.NpzFile:
    """The predictions file of a revision, straight from the DVC cache by the md5 its dvc.lock records."""
    lock = yaml.safe_load(run(project, "git", "show", f"{rev}:dvc.lock").stdout)
    md5 = next(out["md5"] for out in lock["stages"]["evaluate"]["outs"] if out["path"] == "results/predictions.npz")
    return np.load(io.BytesIO((project / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).read_bytes()))


def workspace_state(project: Path) -> dict[str, str]:
    files = [project / "params.yaml", project / "dvc.lock", *sorted((project / "results").rglob("*"))]
    return {str(f): hashlib.md5(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def exp_ref(project: Path, name: str) -> str:
    refs = run(project, "git", "for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
    return next(ref for ref in refs if ref.endswith(f"/{name}"))
