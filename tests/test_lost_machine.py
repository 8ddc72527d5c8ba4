"""A run that survives losing its machine: with train.remote_resume the resume state travels through the project's
default DVC remote, so a `dvc repro` killed on one clone finishes on a fresh clone with the result of an uninterrupted
run; a remote that goes away costs one warning, one that never answers a few seconds and one warning, a project
without a default remote one line, and a torn state on the remote is ignored."""
import json
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch

from browser import skip_unless_installed
from interrupt import HookedRepro
from project import TINY, TINY_ROBUSTNESS, make_project, run, set_params
from resnet_cifar.engine.remote_resume import CALL_SECONDS, NO_DEFAULT_REMOTE
from s3_server import PREFIX, isolate_from_real_aws, moto_installed, s3_server, use_s3_endpoint, use_s3_remote
from sharing import output_files
from silent_server import silent_server

pytestmark = pytest.mark.e2e

EPOCHS = 3
TARGET = "train"  # everything compared is the train stage's
# What two runs of the train stage differ by outside their epochs on a loaded machine (starting Python, DVC
# and torch), beyond what the remote costs.
REPRO_SLACK_SECONDS = 10.0

# Holds the training process once its first epoch's state is whole on the remote (the upload runs in the
# background: this waits for it), until the test kills it or lets it go on.
HOLD_AFTER_FIRST_UPLOAD = """
MODULE = "resnet_cifar.engine.remote_resume"


def patch(module):
    upload = module.RemoteResume.upload
    first = []

    def upload_then_hold(self, local):
        upload(self, local)
        if not first:
            first.append(local)
            self.wait()
            arrived()
            hold()

    module.RemoteResume.upload = upload_then_hold
"""


def compared(project: Path) -> dict:
    """Every file of the outputs dvc.lock records, by hash, with the train metrics' wall time left out (two runs
    on one machine share everything else)."""
    files = output_files(project)
    del files["metrics/train/metrics.json"]
    metrics = json.loads((project / "metrics/train/metrics.json").read_text())
    del metrics["time"]
    return {"files": files, "metrics": metrics}


def clone(team: Path, name: str) -> Path:
    """A fresh `git clone` of the team's repository, as a new machine would make."""
    run(team.parent, "git", "clone", "-q", str(team), name)
    return team.parent / name


def use_remote_folder(project: Path, folder: Path) -> None:
    """This checkout's own local-folder remote (.dvc/config.local), in place of the team's."""
    run(project, "dvc", "remote", "modify", "--local", "storage", "url", str(folder))


def remote_states(folder: Path) -> list[str]:
    """What the remote holds under resume/, relative to it."""
    return sorted(p.relative_to(folder / "resume").as_posix() for p in (folder / "resume").rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def team(tmp_path_factory, tiny_archive) -> Path:
    """The team's git repository: a tiny pipeline with train.remote_resume on, whose default remote is a folder."""
    _, url, md5 = tiny_archive
    root = tmp_path_factory.mktemp("lost-machine")
    project = make_project(root / "team")
    set_params(project, data={"url": url, "md5": md5, **TINY},
               train={"epochs": EPOCHS, "batch_size": 16, "lr": 0.02, "remote_resume": True},
               robustness=TINY_ROBUSTNESS)
    run(project, "dvc", "remote", "modify", "storage", "url", str(root / "team-remote"))
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "tiny, resumable anywhere")
    return project


@pytest.fixture(scope="module")
def reference(team) -> dict:
    """An uninterrupted run's outputs, from its own clone and remote; the remote ends empty."""
    project = clone(team, "straight")
    use_remote_folder(project, team.parent / "straight-remote")
    run(project, "dvc", "repro", TARGET)
    assert remote_states(team.parent / "straight-remote") == []
    return compared(project)


@pytest.fixture(scope="module")
def lost_run(team) -> Path:
    """The team remote as a run left it when its machine was lost: killed (SIGKILL) after its first epoch's
    state reached the remote, its clone deleted. The tests finish it from copies of this folder."""
    project = clone(team, "lost")
    repro = HookedRepro(project, TARGET, HOLD_AFTER_FIRST_UPLOAD)
    try:
        repro.wait_until_arrived()
    finally:
        repro.kill(signal.SIGKILL)
    shutil.rmtree(project)
    remote = team.parent / "team-remote"
    (state,) = remote_states(remote)
    assert state.endswith("/train.pt")
    assert len(torch.load(remote / "resume" / state, weights_only=True)["trainer"]["history"]) == 1
    return remote


def test_a_run_killed_on_one_clone_finishes_on_a_fresh_one_identically(team, reference, lost_run, tmp_path):
    remote = shutil.copytree(lost_run, tmp_path / "remote")
    project = clone(team, "finisher")
    use_remote_folder(project, remote)
    output = run(project, "dvc", "repro", TARGET).stdout
    assert "resume state taken from the DVC remote" in output and "resuming after epoch 1 " in output
    assert compared(project) == reference
    assert remote_states(remote) == []  # the finished run removed its state and its claim


def test_a_truncated_remote_state_is_ignored_with_one_line(team, reference, lost_run, tmp_path):
    remote = shutil.copytree(lost_run, tmp_path / "remote")
    (state,) = (remote / "resume").rglob("train.pt")
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    project = clone(team, "after-torn-upload")
    use_remote_folder(project, remote)
    output = run(project, "dvc", "repro", TARGET).stdout
    ignored = [line for line in output.splitlines() if line.startswith("ignoring")]
    assert len(ignored) == 1 and ignored[0].startswith("ignoring unreadable "), ignored
    assert "resuming" not in output
    assert compared(project) == reference  # started over, to the same result
    assert remote_states(remote) == []


def test_a_run_whose_s3_remote_goes_away_finishes_with_one_warning(team, reference, tmp_path, monkeypatch):
    skip_unless_installed(moto_installed(), 'moto\'s server is not installed (pip install -e ".[dev]")')
    isolate_from_real_aws(monkeypatch, tmp_path)
    project = clone(team, "on-s3")
    repro = None
    try:
        with s3_server(tmp_path / "s3") as s3:
            s3.create_bucket("team")
            use_s3_remote(project, s3, "team")
            repro = HookedRepro(project, TARGET, HOLD_AFTER_FIRST_UPLOAD)
            repro.wait_until_arrived()
            assert [key for key in s3.keys("team", f"{PREFIX}/resume/") if key.endswith("/train.pt")]
        repro.go_on()  # the server is gone: every later upload, and the final removal, fails
        assert repro.proc.wait(timeout=600) == 0, repro.output
    finally:
        if repro is not None:
            repro.stop()
    about_the_remote = [line for line in repro.output.splitlines() if "DVC remote" in line]
    assert len(about_the_remote) == 1, about_the_remote
    assert about_the_remote[0].startswith("warning: could not store the resume state on the DVC remote")
    assert compared(project) == reference


def train_stage_outside_its_epochs(project: Path) -> tuple[str, float]:
    """Run the train stage alone again with `dvc repro` in `project`: its output, and its wall seconds less those of
    its epochs (the metrics' train_seconds). All a remote can add lies there; the epochs' own work, which a loaded
    machine slows the most, is left out."""
    start = time.monotonic()
    output = run(project, "dvc", "repro", "--force", "--single-item", TARGET).stdout
    seconds = time.monotonic() - start
    return output, seconds - json.loads((project / "metrics/train/metrics.json").read_text())["time"]["train_seconds"]


def test_a_run_whose_s3_remote_never_answers_takes_seconds_longer_with_one_warning(team, tmp_path, monkeypatch):
    isolate_from_real_aws(monkeypatch, tmp_path)
    project = clone(team, "hung-remote")
    run(project, "dvc", "remote", "default", "--unset")
    output = run(project, "dvc", "repro", TARGET).stdout  # the stages before it too: not timed
    assert output.splitlines().count(NO_DEFAULT_REMOTE) == 1  # asked for off-machine state, told it has none
    _, baseline = train_stage_outside_its_epochs(project)
    without = compared(project)
    with silent_server() as endpoint:
        run(project, "dvc", "remote", "default", "storage")
        use_s3_endpoint(project, endpoint, "team")
        output, seconds = train_stage_outside_its_epochs(project)
    about_the_remote = [line for line in output.splitlines() if "DVC remote" in line]
    assert len(about_the_remote) == 1, about_the_remote
    assert about_the_remote[0].startswith("warning: could not read the resume state on the DVC remote (RemoteTimeout")
    # It waits on two calls at most, each within its limit: opening the remote and the first look for a state.
    assert seconds - baseline < 2 * CALL_SECONDS + REPRO_SLACK_SECONDS, (seconds, baseline)
    assert compared(project) == without
