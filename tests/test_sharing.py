"""Team workflows end to end with real `git`, `dvc` and `sshd`, no network: push results to the default remote
(a local folder) or an SSH server, pull them into a teammate's clone; share experiments through a bare git
repository; run a queued sweep in parallel workers."""
import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from browser import skip_unless_installed
from project import command_env, ran_stages, run, set_params
from sharing import assert_same_results, clone, dvc_status, locked_md5, output_files, stored_file
from ssh_server import find_sshd, ssh_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    skip_unless_installed(find_sshd() is not None, "sshd is not installed (Debian: apt-get install openssh-server)")
    with ssh_server(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def test_teammate_pulls_byte_identical_results_from_the_default_remote(origin, home):
    run(origin, "dvc", "push")
    assert dvc_status(origin, "--cloud") == {}  # everything in the cache is on the remote
    assert stored_file(home / "resnet-cifar-dvc-storage", locked_md5(origin, "models/best.pt")).is_file()
    mate = clone(origin, "teammate")
    assert not (mate / "models/best.pt").exists()
    run(mate, "dvc", "pull")
    assert_same_results(mate, origin)


def test_push_and_pull_through_an_ssh_server(origin, sshd, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(sshd.home))  # dvc-ssh checks the host key against ~/.ssh/known_hosts
    url = sshd.url(tmp_path / "ssh-storage")

    def use_ssh_remote(project: Path) -> None:  # per checkout (.dvc/config.local), as a teammate would
        run(project, "dvc", "remote", "modify", "--local", "storage", "url", url)
        run(project, "dvc", "remote", "modify", "--local", "storage", "keyfile", str(sshd.keyfile))

    use_ssh_remote(origin)
    try:
        run(origin, "dvc", "push")
        assert dvc_status(origin, "--cloud") == {}
    finally:
        (origin / ".dvc/config.local").unlink(missing_ok=True)
    assert stored_file(tmp_path / "ssh-storage", locked_md5(origin, "models/best.pt")).is_file()
    mate = clone(origin, "teammate-ssh")
    use_ssh_remote(mate)
    run(mate, "dvc", "pull")
    assert_same_results(mate, origin)
    assert "Accepted publickey" in sshd.log.read_text()


def test_experiment_is_saved_pushed_pulled_applied_and_branched(own_origin, home):
    origin = own_origin
    set_params(origin, plot={"dpi": 80})
    assert ran_stages(run(origin, "dvc", "repro").stdout) == ["plot"]
    run(origin, "dvc", "exp", "save", "-n", "dpi-80")
    saved, figure_md5 = output_files(origin), locked_md5(origin, "plots/history.png")
    run(origin, "dvc", "exp", "push", "origin", "dpi-80")  # git refs to origin.git, data to the DVC remote
    # Into the default remote: DVC reads the remote from the experiment's commit, where it can misplace paths.
    assert stored_file(home / "resnet-cifar-dvc-storage", figure_md5).is_file()

    mate = clone(origin, "teammate-exp")
    assert "dpi-80" not in run(mate, "dvc", "exp", "list", "--name-only").stdout
    run(mate, "dvc", "exp", "pull", "origin", "dpi-80")
    assert "dpi-80" in run(mate, "dvc", "exp", "list", "--name-only").stdout.split()
    run(mate, "dvc", "exp", "apply", "dpi-80")
    assert yaml.safe_load((mate / "params.yaml").read_text())["plot"]["dpi"] == 80
    assert output_files(mate) == saved
    assert dvc_status(mate) == {}
    run(mate, "dvc", "exp", "branch", "dpi-80", "dpi-80-branch")
    branch_params = yaml.safe_load(run(mate, "git", "show", "dpi-80-branch:params.yaml").stdout)
    assert branch_params["plot"]["dpi"] == 80


def wait_for_queue(project: Path, timeout: float = 300.0) -> str:
    """Poll `dvc queue status` until no task is queued or running; return the last status table."""
    deadline = time.monotonic() + timeout
    while True:
        status = run(project, "dvc", "queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        if time.monotonic() > deadline:
            run(project, "dvc", "queue", "kill", "--all", check=False)
            raise AssertionError(f"queue not done after {timeout:.0f} s:\n{status}")
        time.sleep(2)


def test_queued_sweep_runs_in_two_workers_each_with_its_own_outputs(own_origin):
    origin = own_origin
    # A plot-only sweep: the queue's machinery is the same for every stage, and this keeps the test fast.
    queued = run(origin, "dvc", "exp", "run", "--queue", "-S", "plot.dpi=50,70").stdout
    names = [line.split("'")[1] for line in queued.splitlines() if line.startswith("Queued experiment")]
    assert len(names) == 2
    # Workers are detached; they would hold captured output pipes open, so theirs goes nowhere.
    subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=origin, env=command_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = wait_for_queue(origin)
    assert status.count("Success") == 2, status
    celery = origin / ".dvc/tmp/exps/celery"
    assert (celery / "dvc-exp-worker-1.out").exists() and (celery / "dvc-exp-worker-2.out").exists()

    rows = json.loads(run(origin, "dvc", "exp", "show", "--json").stdout)
    revs = {exp["name"]: exp["revs"][0]["data"] for row in rows for exp in row.get("experiments") or []}
    for name in names:
        dpi = revs[name]["params"]["params.yaml"]["data"]["plot"]["dpi"]
        log = run(origin, "dvc", "queue", "logs", name).stdout
        assert "Running stage 'plot'" in log and "Running stage 'train'" not in log
        # Each experiment's figure, read back from the cache, was drawn with its own dpi.
        figure = stored_file(origin / ".dvc/cache", revs[name]["outs"]["plots/history.png"]["hash"])
        with Image.open(figure) as image:
            assert image.info["dpi"][0] == pytest.approx(dpi, abs=1)
    assert {revs[name]["params"]["params.yaml"]["data"]["plot"]["dpi"] for name in names} == {50, 70}
