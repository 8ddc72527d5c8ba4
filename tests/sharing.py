"""What the team-workflow e2e tests share: a teammate's clone of the shared repository, and the outputs, hashes and
remote locations to compare between checkouts."""
import hashlib
import json
from pathlib import Path

import yaml

from project import ran_stages, run


def clone(origin: Path, name: str) -> Path:
    """A teammate's `git clone` of the shared repository, beside the origin project."""
    dest = origin.parent / name
    run(origin.parent, "git", "clone", "-q", str(origin.parent / "origin.git"), str(dest))
    return dest


def output_files(project: Path) -> dict[str, str]:
    """Every file of every output that dvc.lock records, by path relative to the project, with its SHA-256."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    files = {}
    for stage in lock["stages"].values():
        for out in stage["outs"]:
            top = project / out["path"]
            paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
            for path in paths:
                files[path.relative_to(project).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def dvc_status(project: Path, *args: str) -> dict:
    return json.loads(run(project, "dvc", "status", "--json", *args).stdout)


def assert_same_results(mate: Path, origin: Path) -> None:
    expected = output_files(origin)
    assert {"models/best.pt", "data/subsets/train.npz", "metrics/evaluate.json", "plots/history.png"} <= set(expected)
    assert output_files(mate) == expected
    assert dvc_status(mate) == {}
    assert ran_stages(run(mate, "dvc", "repro").stdout) == []


def stored_file(storage: Path, md5: str) -> Path:
    """Where a DVC 3 cache or local remote folder keeps the file with this MD5."""
    return storage / "files/md5" / md5[:2] / md5[2:]


def locked_md5(project: Path, path: str) -> str:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return next(out["md5"] for stage in lock["stages"].values() for out in stage["outs"] if out["path"] == path)
