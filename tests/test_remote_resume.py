"""The resume state on a DVC remote (engine/remote_resume.py): the claim rule, one warning per run whatever fails,
uploads that never hold up training, time limits that keep a remote that does not answer to a few seconds of the
run, and the fingerprint and device checks that decide whether a state is used. The remote is DVC's own local
filesystem over a temporary folder, faults coming from a subclass of it, or DVC's S3 filesystem pointed at a loopback
port that never answers or refuses connections (silent_server.py)."""
import dataclasses
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
from dvc_objects.fs.local import LocalFileSystem

from committed import committed_params
from pipeline_spec import load_pipeline
from resnet_cifar.config import TrainParams
from resnet_cifar.engine import remote_resume
from resnet_cifar.engine.remote_resume import CALL_SECONDS, NO_DEFAULT_REMOTE, S3_RETRIES, STATE, RemoteResume
from resnet_cifar.engine.resume import Resume, load_resume_state, save_resume_state, training_fingerprint
from resnet_cifar.engine.run import RunFiles, run_training
from s3_server import DUMMY_CREDENTIALS, PREFIX, isolate_from_real_aws
from silent_server import refusing_endpoint, silent_server
from tiny import TP, tiny_params, tiny_split

CPU_FP32 = {"device": "cpu", "precision": "fp32"}
# What a loaded machine and the test's own work add to a documented time limit before the test calls it broken.
SLACK_SECONDS = 2.0
# The longest a refused S3 call takes: botocore's standard mode waits at most a second before its one retry.
REFUSED_CALL_SECONDS = 1.0


class FullDisk(LocalFileSystem):
    """A remote that refuses every write."""

    def put_file(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    def rm_file(self, *args, **kwargs):
        raise OSError(28, "No space left on device")


class Stalled(LocalFileSystem):
    """A remote whose uploads hang until released; counts them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.release, self.uploads = threading.Event(), 0

    def put_file(self, *args, **kwargs):
        self.uploads += 1
        self.release.wait()
        super().put_file(*args, **kwargs)


class KilledMidUpload(LocalFileSystem):
    """A remote whose upload process dies (SIGTERM, Ctrl-C) halfway through writing the file."""

    def put_file(self, lpath, rpath, **kwargs):
        with open(lpath, "rb") as source, open(rpath, "wb") as target:
            target.write(source.read(100))
        raise KeyboardInterrupt


class DropsDownloads(LocalFileSystem):
    """A remote whose connection breaks during every download."""

    def get_file(self, *args, **kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")


def local_state(tmp_path, epochs: int):
    """A resume file holding a stand-in trainer state after `epochs` epochs."""
    path = tmp_path / f"local-{epochs}.pt"
    save_resume_state(path, {"history": list(range(epochs))}, "fp", CPU_FP32)
    return path


def stored_epochs(path) -> int:
    return len(torch.load(path, weights_only=True)["trainer"]["history"])


def test_only_one_of_two_workers_takes_the_state_and_the_other_never_overwrites_it(tmp_path):
    folder = tmp_path / "remote/resume/fp"
    folder.mkdir(parents=True)
    local_state(tmp_path, 2).rename(folder / STATE)
    first, second = (RemoteResume(LocalFileSystem(), str(folder), worker=name) for name in ("a", "b"))
    assert first.claim(tmp_path / "a/train.pt")
    assert not second.claim(tmp_path / "b/train.pt")
    assert stored_epochs(tmp_path / "a/train.pt") == 2 and not (tmp_path / "b/train.pt").exists()
    second.upload(local_state(tmp_path, 1))  # the loser starts over: its older state stays local
    second.wait()
    assert [p.name for p in folder.iterdir()] == ["claimed-a.pt"]
    first.upload(local_state(tmp_path, 3))
    first.wait()
    assert [p.name for p in folder.iterdir()] == [STATE]  # the claim goes once the winner's own state is stored
    assert stored_epochs(folder / STATE) == 3
    second.finish()  # the loser leaves the winner's state alone
    assert (folder / STATE).exists()
    first.finish()
    assert not any(folder.iterdir())


def test_a_state_whose_download_fails_goes_back_for_another_run(tmp_path, capsys):
    folder = tmp_path / "remote"
    folder.mkdir()
    local_state(tmp_path, 2).rename(folder / STATE)
    remote = RemoteResume(DropsDownloads(), str(folder), worker="w")
    assert not remote.claim(tmp_path / "local/train.pt")
    assert [p.name for p in folder.iterdir()] == [STATE] and stored_epochs(folder / STATE) == 2
    assert capsys.readouterr().out.startswith("warning: could not download the resume state")


def test_a_remote_that_refuses_writes_costs_one_warning_for_the_whole_run(tmp_path, capsys):
    remote = RemoteResume(FullDisk(), str(tmp_path / "remote"), worker="w")
    state = local_state(tmp_path, 1)
    for _ in range(3):  # three epochs: each tries again
        remote.upload(state)
        remote.wait()
    remote.finish()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: could not store the resume state on the DVC remote")
    assert "No space left on device" in lines[0]


def test_an_epoch_that_ends_during_a_slow_upload_skips_its_own(tmp_path):
    fs = Stalled()
    remote = RemoteResume(fs, str(tmp_path / "remote"), worker="w")
    remote.upload(local_state(tmp_path, 1))  # returns at once: the upload runs in the background
    remote.upload(local_state(tmp_path, 2))
    assert fs.uploads == 1
    fs.release.set()
    remote.wait()
    remote.upload(local_state(tmp_path, 3))  # the next epoch's goes ahead
    remote.wait()
    assert fs.uploads == 2 and stored_epochs(tmp_path / "remote" / STATE) == 3


def test_an_upload_still_running_when_the_run_completes_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr("resnet_cifar.engine.remote_resume.FINISH_WAIT_SECONDS", 0.1)
    fs = Stalled()
    remote = RemoteResume(fs, str(tmp_path / "remote"), worker="w")
    remote.upload(local_state(tmp_path, 1))
    remote.finish()  # gives up waiting for the hung upload
    fs.release.set()
    remote.wait()
    assert not list((tmp_path / "remote").iterdir())  # the late upload removed itself instead of landing


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the kill, in the upload thread
def test_a_kill_during_an_upload_leaves_the_previous_state_readable(tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    local_state(tmp_path, 1).rename(folder / STATE)
    remote = RemoteResume(KilledMidUpload(), str(folder), worker="w")
    remote.upload(local_state(tmp_path, 2))
    remote.wait()
    assert stored_epochs(folder / STATE) == 1
    assert sorted(p.name for p in folder.iterdir()) == [STATE, "upload-w.tmp"]  # the torn upload: never read


def test_a_run_on_a_fresh_machine_resumes_from_the_remote_and_finishing_removes_every_copy(tmp_path, capsys):
    folder = str(tmp_path / "remote")
    lost = Resume(tmp_path / "lost/train.pt", "fp", CPU_FP32, RemoteResume(LocalFileSystem(), folder, worker="lost"))
    lost.save({"history": [1, 2]})
    lost.remote.wait()
    fresh = Resume(tmp_path / "fresh/train.pt", "fp", CPU_FP32,
                   RemoteResume(LocalFileSystem(), folder, worker="fresh"))
    assert fresh.load() == {"history": [1, 2]}
    assert capsys.readouterr().out == f"resume state taken from the DVC remote: {fresh.remote.claim_key}\n"
    fresh.save({"history": [1, 2, 3]})
    fresh.finish()
    assert not fresh.path.exists() and not any((tmp_path / "remote").iterdir())


def test_a_state_made_on_another_device_kind_or_precision_starts_the_run_over(tmp_path, capsys):
    path = tmp_path / "train.pt"
    save_resume_state(path, {"history": []}, "fp", {"device": "cuda", "precision": "bf16"})
    assert load_resume_state(path, "fp", CPU_FP32, name="the remote's state") is None
    assert capsys.readouterr().out == ("ignoring the remote's state: it was made with bf16 on cuda, this run trains "
                                       "with fp32 on cpu; starting over\n")
    assert not path.exists()


def test_a_truncated_state_is_ignored_with_one_line(tmp_path, capsys):
    path = local_state(tmp_path, 2)
    path.write_bytes(path.read_bytes()[:100])
    assert load_resume_state(path, "fp", CPU_FP32) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"ignoring unreadable {path}")


def test_switching_remote_resume_keeps_the_fingerprint():
    params = committed_params()
    switched = dataclasses.replace(params, train=dataclasses.replace(
        params.train, remote_resume=not params.train.remote_resume))
    splits = [tiny_split(8, 1)]
    assert training_fingerprint(switched, splits) == training_fingerprint(params, splits)
    other_lr = dataclasses.replace(params, train=dataclasses.replace(params.train, lr=params.train.lr * 2))
    assert training_fingerprint(other_lr, splits) != training_fingerprint(params, splits)


def test_a_project_without_a_default_remote_has_no_remote_state(tmp_path, capsys):
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc/config").write_text("")
    assert RemoteResume.of_project(tmp_path, "fp") is None
    assert capsys.readouterr().out == NO_DEFAULT_REMOTE + "\n"  # the user asked for off-machine state: say why not
    assert "`dvc remote add -d NAME URL`" in NO_DEFAULT_REMOTE


def test_the_default_remote_gives_the_run_a_folder_outside_dvcs_files(tmp_path):
    (tmp_path / ".dvc").mkdir()
    config = f"[core]\n    remote = team\n['remote \"team\"']\n    url = {tmp_path}/store\n"
    (tmp_path / ".dvc/config").write_text(config)
    remote = RemoteResume.of_project(tmp_path, "fp")
    assert remote is not None and remote.state_key == f"{tmp_path}/store/resume/fp/{STATE}"


@pytest.fixture(autouse=True)
def no_stray_threads():
    """Every test's uploads end within it (the hung ones are released before it returns)."""
    yield
    assert not [t for t in threading.enumerate() if t.name.startswith("remote-resume") and t.is_alive()]


def test_the_train_stage_depends_on_every_train_param_but_remote_resume():
    params = set(load_pipeline()["stages"]["train"]["params"])
    trained = {f"train.{field.name}" for field in dataclasses.fields(TrainParams)} - {"train.remote_resume"}
    assert params == {"seed", "model", "evaluate.batch_size", *trained}


def s3_project(root: Path, endpoint: str, **settings: str) -> Path:
    """A DVC project at `root` whose default remote is a bucket behind the S3 `endpoint`, with dummy keys and the
    remote's other `settings`."""
    options = {"url": f"s3://team/{PREFIX}", "endpointurl": endpoint, **DUMMY_CREDENTIALS, **settings}
    (root / ".dvc").mkdir(parents=True)
    (root / ".dvc/config").write_text("[core]\n    remote = team\n['remote \"team\"']\n"
                                      + "".join(f"    {key} = {value}\n" for key, value in options.items()))
    return root


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No AWS setting of this machine reaches the S3 client (s3_server.isolate_from_real_aws)."""
    isolate_from_real_aws(monkeypatch, tmp_path / "aws")


def seconds_taken(call, *args) -> float:
    start = time.monotonic()
    call(*args)
    return time.monotonic() - start


def end_abandoned_calls() -> None:
    """Wait for the calls that a time limit gave up on (the test has released what held them)."""
    for thread in threading.enumerate():
        if thread.name == "remote-call":
            thread.join(10)


def about_the_remote(out: str) -> list[str]:
    return [line for line in out.splitlines() if "DVC remote" in line]


def test_a_remote_that_never_answers_costs_one_time_limit_and_is_then_left_alone(tmp_path, capsys, monkeypatch,
                                                                                   no_aws):
    with silent_server() as endpoint:
        remote = RemoteResume.of_project(s3_project(tmp_path / "project", endpoint), "fp")
        assert remote is not None  # opening an S3 remote asks it nothing
        monkeypatch.setattr(remote_resume, "CALL_SECONDS", 0.5)  # the test's own, shorter limit
        start = time.monotonic()
        assert not remote.claim(tmp_path / "train.pt")
        remote.upload(local_state(tmp_path, 1))  # no epoch tries it again
        remote.finish()  # nor does the end
        seconds = time.monotonic() - start
    assert remote.abandoned and remote.pending is None and not (tmp_path / "train.pt").exists()
    assert seconds < 0.5 + SLACK_SECONDS
    assert capsys.readouterr().out.splitlines() == [
        "warning: could not read the resume state on the DVC remote (RemoteTimeout: no answer within 0.5 s); "
        "training goes on with the local state and leaves the remote alone for the rest of the run"]


def test_a_remote_that_refuses_connections_costs_a_second_a_call_and_one_warning(tmp_path, capsys, no_aws):
    remote = RemoteResume.of_project(s3_project(tmp_path / "project", refusing_endpoint()), "fp")
    assert seconds_taken(remote.claim, tmp_path / "train.pt") < REFUSED_CALL_SECONDS + SLACK_SECONDS
    for epochs in range(1, 4):  # a refusal is no timeout: each epoch tries again, in the background
        remote.upload(local_state(tmp_path, epochs))
        remote.wait()
    assert not remote.abandoned
    # The end waits on two calls at most: the last upload, done here, and the removal.
    assert seconds_taken(remote.finish) < REFUSED_CALL_SECONDS + SLACK_SECONDS
    (line,) = about_the_remote(capsys.readouterr().out)
    assert line.startswith("warning: could not read the resume state on the DVC remote (EndpointConnectionError")
    assert line.endswith("training goes on with the local state and tries again each epoch")


def test_an_upload_past_its_time_limit_leaves_the_remote_alone_and_the_stored_state_whole(tmp_path, capsys,
                                                                                         monkeypatch):
    monkeypatch.setattr(remote_resume, "TRANSFER_SECONDS", 0.2)
    monkeypatch.setattr(remote_resume, "SECONDS_PER_MIB", 0.0)
    folder = tmp_path / "remote"
    folder.mkdir()
    local_state(tmp_path, 1).rename(folder / STATE)
    fs = Stalled()
    remote = RemoteResume(fs, str(folder), worker="w")
    remote.upload(local_state(tmp_path, 2))
    remote.wait()
    remote.upload(local_state(tmp_path, 3))  # not tried: the remote timed out
    assert remote.abandoned and fs.uploads == 1
    assert seconds_taken(remote.finish) < SLACK_SECONDS  # nor is the removal
    fs.release.set()  # the abandoned upload ends late, on its temporary key only
    end_abandoned_calls()
    assert sorted(p.name for p in folder.iterdir()) == [STATE, "upload-w.tmp"] and stored_epochs(folder / STATE) == 1
    (line,) = about_the_remote(capsys.readouterr().out)
    assert line.startswith("warning: could not store the resume state on the DVC remote (RemoteTimeout: no answer "
                           "within 0.2 s)")


def test_an_s3_client_gets_time_limits_and_one_retry_unless_the_user_set_them(tmp_path, monkeypatch, no_aws):
    project = s3_project(tmp_path / "project", refusing_endpoint(), read_timeout="120")
    client = RemoteResume.of_project(project, "fp").fs.fs.s3.meta.config  # botocore's, as the calls use it
    assert (client.read_timeout, client.connect_timeout) == (120, remote_resume.S3_TIMEOUTS["connect_timeout"])
    assert client.retries == S3_RETRIES
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")  # the user's AWS setting wins over ours
    assert RemoteResume.of_project(project, "fp").fs.fs.s3.meta.config.retries == {"total_max_attempts": 7,
                                                                                    "mode": "legacy"}


def seconds_outside_the_epochs(folder: Path, remote_resume_on: bool, project: Path) -> float:
    """The wall seconds of a two-epoch run of ResNet-18 on a few 8x8 images whose project is `project`, less those
    of its epochs (`TrainedRun.train_seconds`). All a remote can add lies there, before the first epoch (opening it,
    the first look) and after the last (the last upload, the removal): an upload runs beside the epochs. The epochs'
    own work, which a loaded machine slows the most, is left out."""
    params = tiny_params(dataclasses.replace(TP, epochs=2, precise_bn_batches=0, remote_resume=remote_resume_on))
    params = dataclasses.replace(params, model=dataclasses.replace(params.model, image_size=8))
    start = time.monotonic()
    run = run_training(params, tiny_split(16, 1), tiny_split(8, 2), RunFiles.under(folder),
                       device=torch.device("cpu"), project=project)
    return time.monotonic() - start - run.train_seconds


@pytest.mark.parametrize("endpoint", ["never answers", "refuses connections"])
def test_a_whole_run_whose_remote_does_not_answer_takes_seconds_longer_with_one_warning(tmp_path, capsys, no_aws,
                                                                                       endpoint):
    with silent_server() as silent:
        project = s3_project(tmp_path / "project", silent if endpoint == "never answers" else refusing_endpoint())
        seconds_outside_the_epochs(tmp_path / "warm-up", False, project)
        without = seconds_outside_the_epochs(tmp_path / "without", False, project)
        capsys.readouterr()
        with_remote = seconds_outside_the_epochs(tmp_path / "with", True, project)
    # The run waits on two calls to a remote that does not answer: opening it and the first look for a state.
    assert with_remote - without < 2 * CALL_SECONDS + SLACK_SECONDS, (with_remote, without)
    assert len(about_the_remote(capsys.readouterr().out)) == 1


def test_opening_a_remote_that_never_answers_costs_its_time_limit_and_one_warning(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(remote_resume, "CALL_SECONDS", 1.0)  # the test's own, shorter limit
    (tmp_path / ".dvc").mkdir()
    with silent_server() as endpoint:  # an SSH remote connects as it opens: the server never sends its banner
        port = urlsplit(endpoint).port
        (tmp_path / ".dvc/config").write_text(
            f"[core]\n    remote = team\n['remote \"team\"']\n    url = ssh://test@127.0.0.1:{port}/remote\n")
        assert seconds_taken(RemoteResume.of_project, tmp_path, "fp") < 1.0 + SLACK_SECONDS
    assert capsys.readouterr().out == "warning: no resume state on the DVC remote: no answer within 1 s\n"
