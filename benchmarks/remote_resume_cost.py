"""What train.remote_resume costs: the size of the resume state, the seconds one upload of it takes to a
local-folder remote and to an S3 remote (moto's server on loopback, in this process), for each architecture, and
what the uploads add to an epoch's wall time (training, validation and saving), against no remote in the same run.

The state is a real one: a trainer after one short epoch on synthetic images (weights, optimizer momentum, the best
epoch's weights, RNG states and history), saved as the train stage saves it. An upload is what a run does after each
epoch (`RemoteResume.store`: to a temporary key, then moved into place); it runs beside training in a background
thread, so the epoch waits for none of it, and it is skipped at an epoch's end while the previous one still runs.

With --unanswered it times instead what a remote that does not answer costs a whole run (`run_training`, as the
train stage runs it): the same short run with train.remote_resume off, then on with a project whose default remote
is S3 behind a loopback port that accepts connections and never answers, and behind a closed port, one after
another in one process, --repeats rounds of the three, with each run's lines about the remote counted.

    python benchmarks/remote_resume_cost.py                        # resnet18 and resnet50, 3 uploads each
    python benchmarks/remote_resume_cost.py --arch resnet18 --repeats 5
    python benchmarks/remote_resume_cost.py --arch resnet18 --epochs 4 --images 4000   # also the epoch's cost
    python benchmarks/remote_resume_cost.py --unanswered --arch resnet18 --epochs 2 --images 500 --repeats 3
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import logging
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from harness import params_with, synthetic_split
from resnet_cifar.engine.remote_resume import RemoteResume
from resnet_cifar.engine.resume import Resume
from resnet_cifar.engine.run import RunFiles, build_trainer, run_training

CPU = torch.device("cpu")
CPU_FP32 = {"device": "cpu", "precision": "fp32"}
MIB = 2**20


def state_file(arch: str, folder: Path) -> Path:
    """The resume state of `arch` after one epoch of 32 images at 8x8, saved as the train stage saves it."""
    params = params_with({"model.arch": arch, "model.image_size": 8, "train.epochs": 1, "train.batch_size": 16,
                          "train.precise_bn_batches": 0, "train.precision": "fp32"})
    trainer = build_trainer(params, synthetic_split(32, 0), synthetic_split(16, 1), CPU)
    trainer.train_epoch()
    path = folder / f"{arch}.pt"
    Resume(path, "benchmark", CPU_FP32).save(trainer.state_dict())
    return path


def seconds_per_upload(remote: RemoteResume, state: Path, repeats: int) -> float:
    """The mean seconds of `repeats` uploads, each a whole store (upload, then move into place)."""
    start = time.perf_counter()
    for _ in range(repeats):
        remote.store(state)
    assert not remote.warned, "an upload failed"
    return (time.perf_counter() - start) / repeats


def seconds_per_epoch(arch: str, images: int, epochs: int, remote: RemoteResume | None, folder: Path) -> float:
    """The mean wall seconds of an epoch of `arch` at 8x8 on `images` synthetic images, from the start of its
    training to the end of its save, each epoch's state handed to `remote` as the train stage's `Resume` does (the
    upload runs beside the next epoch); the first epoch, which warms up, is left out."""
    params = params_with({"model.arch": arch, "model.image_size": 8, "train.epochs": epochs, "train.batch_size": 128,
                          "train.precision": "fp32"})
    train = synthetic_split(images, 0)
    trainer = build_trainer(params, train, synthetic_split(500, 1), CPU)
    files = RunFiles.under(folder / ("none" if remote is None else remote.folder.replace("/", "_")))
    resume = Resume(files.resume, "benchmark", CPU_FP32, remote)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        trainer.train_epoch()
        resume.save(trainer.state_dict())
        seconds.append(time.perf_counter() - start)
    if remote is not None:
        remote.wait()
        assert not remote.warned, "an upload failed"
    return sum(seconds[1:]) / (epochs - 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def without_real_aws(folder: Path) -> None:
    """No real account in reach: S3 clients get only the dummy keys the benchmark gives them."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(AWS_CONFIG_FILE=str(folder / "none"), AWS_SHARED_CREDENTIALS_FILE=str(folder / "none"),
                      AWS_EC2_METADATA_DISABLED="true")


def s3_remote(folder: Path) -> tuple[RemoteResume, object]:
    """A remote in a bucket of moto's S3 server on a loopback port, through DVC's S3 filesystem; and the server."""
    from dvc_s3 import S3FileSystem
    from moto.server import ThreadedMotoServer

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    fs = S3FileSystem(endpointurl=f"http://127.0.0.1:{port}", access_key_id="testing", secret_access_key="testing")
    fs.fs.mkdir("benchmark")  # the bucket
    return RemoteResume(fs, "benchmark/resnet-cifar/resume/benchmark"), server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--repeats", type=int, default=3, help="uploads timed; with --unanswered, rounds of runs")
    parser.add_argument("--epochs", type=int, default=0,
                        help="also time this many epochs (>= 2) per remote, with and without uploads")
    parser.add_argument("--images", type=int, default=4000, help="synthetic training images of a timed epoch")
    parser.add_argument("--unanswered", action="store_true",
                        help="instead, time whole runs of --epochs (default 3) with a remote that never answers")
    args = parser.parse_args()
    from dvc_objects.fs.local import LocalFileSystem

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        without_real_aws(folder)
        if args.unanswered:
            unanswered_costs(args.arch[0], args.epochs or 3, args.images, args.repeats, folder)
            return
        s3, server = s3_remote(folder)
        local = RemoteResume(LocalFileSystem(), str(folder / "remote/resume/benchmark"))
        try:
            for arch in args.arch:
                state = state_file(arch, folder)
                size = state.stat().st_size / MIB
                for name, remote in (("local folder", local), ("S3 (moto, loopback)", s3)):
                    seconds = seconds_per_upload(remote, state, args.repeats)
                    print(f"{arch}: state {size:.1f} MiB; {name}: {seconds:.2f} s per upload", flush=True)
                if args.epochs:
                    epoch_costs(arch, args, {"no remote": None, "local folder": local, "S3 (moto, loopback)": s3},
                                folder)
        finally:
            server.stop()


def epoch_costs(arch: str, args: argparse.Namespace, remotes: dict[str, RemoteResume | None], folder: Path) -> None:
    """An epoch's wall seconds with each remote, and its ratio to no remote's, measured one after another."""
    baseline = None
    for name, remote in remotes.items():
        seconds = seconds_per_epoch(arch, args.images, args.epochs, remote, folder)
        baseline = baseline or seconds
        print(f"{arch}: {name}: {seconds:.2f} s per epoch of {args.images} images ({seconds / baseline:.2f} x no "
              f"remote, {seconds - baseline:+.2f} s)", flush=True)



@contextlib.contextmanager
def unanswered_endpoints() -> Iterator[dict[str, str]]:
    """S3 endpoints on loopback that never answer: a listener that is never read (the kernel accepts connections
    into its backlog and nothing replies), and a port where nothing listens (connections refused)."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        yield {"never answers": f"http://127.0.0.1:{silent.getsockname()[1]}",
               "refuses connections": f"http://127.0.0.1:{free_port()}"}


def project_with_s3_remote(folder: Path, endpoint: str) -> Path:
    """A DVC project whose default remote is a bucket behind `endpoint`, with dummy keys."""
    (folder / ".dvc").mkdir(parents=True)
    settings = {"url": "s3://benchmark/resnet-cifar", "endpointurl": endpoint, "access_key_id": "testing",
                "secret_access_key": "testing"}
    (folder / ".dvc/config").write_text("[core]\n    remote = team\n['remote \"team\"']\n"
                                        + "".join(f"    {key} = {value}\n" for key, value in settings.items()))
    return folder


@dataclasses.dataclass(frozen=True)
class RunTimes:
    seconds: float  # the whole run
    outside_epochs: float  # less its epochs' (`TrainedRun.train_seconds`): all the remote can add lies there
    about_the_remote: int  # lines


def whole_run(arch: str, epochs: int, images: int, remote_resume: bool, project: Path, folder: Path) -> RunTimes:
    """A run of `arch` at 8x8 on `images` synthetic images, as the train stage runs it in `project`."""
    params = params_with({"model.arch": arch, "model.image_size": 8, "train.epochs": epochs, "train.batch_size": 128,
                          "train.precision": "fp32", "train.remote_resume": remote_resume})
    output = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(output):
        run = run_training(params, synthetic_split(images, 0), synthetic_split(500, 1), RunFiles.under(folder),
                           device=CPU, project=project)
    seconds = time.perf_counter() - start
    return RunTimes(seconds, seconds - run.train_seconds, output.getvalue().count("DVC remote"))


def unanswered_costs(arch: str, epochs: int, images: int, rounds: int, folder: Path) -> None:
    """A whole run with train.remote_resume off and on with each unanswering remote, `rounds` times in turn, after
    an untimed run that warms up. Prints the medians of the whole run's seconds and of those outside its epochs,
    each with the median of the rounds' differences to off (the machine's load drifts: each round's runs are
    compared with its own run with it off), and the lines each run printed about the remote."""
    whole_run(arch, 1, images, False, folder, folder / "warm-up")
    with unanswered_endpoints() as endpoints:
        projects = {name: project_with_s3_remote(folder / f"project-{i}", url)
                    for i, (name, url) in enumerate(endpoints.items())}
        cases = {"remote_resume off": (False, projects["never answers"]),
                 **{name: (True, project) for name, project in projects.items()}}
        runs: dict[str, list[RunTimes]] = {name: [] for name in cases}
        for round_ in range(rounds):
            for name, (on, project) in cases.items():
                runs[name].append(whole_run(arch, epochs, images, on, project, folder / f"run-{round_}-{name}"))
    off = runs["remote_resume off"]
    print(f"{arch}, {epochs} epochs of {images} images, medians of {rounds} rounds:")
    for name, times in runs.items():
        print(f"  {name}: {against_off(times, off, 'seconds')}; outside the epochs "
              f"{against_off(times, off, 'outside_epochs')}; lines about the remote: "
              f"{sorted({t.about_the_remote for t in times})}", flush=True)


def against_off(times: list[RunTimes], off: list[RunTimes], field: str) -> str:
    """A median of `field`, each round's value and the median of the rounds' differences to off."""
    values, offs = [getattr(t, field) for t in times], [getattr(t, field) for t in off]
    median = statistics.median(values)
    extra = statistics.median(v - o for v, o in zip(values, offs))
    return (f"{median:.2f} s ({', '.join(f'{v:.1f}' for v in values)}; {median / statistics.median(offs):.2f} x off, "
            f"{extra:+.2f} s)")


if __name__ == "__main__":
    main()
