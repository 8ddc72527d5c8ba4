"""Output files are replaced whole or not at all: on errors, kills, full disks and unwritable folders."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from resnet_cifar.atomic import atomic_path, write_json, write_npz, write_text
from resnet_cifar.errors import UserError

SRC = Path(__file__).resolve().parents[1] / "src"


def python(code: str, *args: str, **popen) -> subprocess.Popen:
    """Run `code` in a fresh interpreter that imports this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def test_an_error_while_writing_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "metrics.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("interrupted half way")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.e2e
def test_a_kill_while_writing_leaves_the_old_file(tmp_path):
    target = tmp_path / "best.pt"
    write_text(target, "old")
    writer = python("""
        import sys, time
        from resnet_cifar.atomic import atomic_path
        with atomic_path(sys.argv[1]) as tmp:
            with open(tmp, "w") as f:
                f.write("half of the new")
            print("half written", flush=True)
            time.sleep(60)
    """, str(target))
    try:
        assert writer.stdout.readline() == "half written\n", writer.stderr.read()
    finally:
        writer.kill()
        writer.wait()
    assert target.read_text() == "old"


def test_npz_files_are_compressed_on_request_and_read_back_the_same(tmp_path):
    flat = np.full((50, 3, 32, 32), 7, np.uint8)
    write_npz(tmp_path / "plain.npz", images=flat)
    write_npz(tmp_path / "small.npz", compressed=True, images=flat)
    assert (tmp_path / "small.npz").stat().st_size < (tmp_path / "plain.npz").stat().st_size / 10
    for name in ("plain.npz", "small.npz"):
        with np.load(tmp_path / name) as f:
            assert f.files == ["images"] and (f["images"] == flat).all()


def test_written_files_get_the_usual_permissions(tmp_path):
    write_text(tmp_path / "atomic.txt", "x")
    (tmp_path / "plain.txt").write_text("x")
    assert (tmp_path / "atomic.txt").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode


def test_an_unwritable_folder_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "metrics"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UserError, match=r"cannot write .*metrics/evaluate\.json: .*/metrics is a file, not a "
                                        r"folder; check that its folder is writable and the disk has space"):
        write_json(blocker / "evaluate.json", {"accuracy": 1.0})


@pytest.mark.e2e
def test_a_full_disk_gives_clear_errors_and_keeps_the_old_files(tmp_path, tiny_archive):
    """A file size limit (RLIMIT_FSIZE) makes writes fail as a full disk does; each writer must say so, keep the
    file it was replacing, and leave no temporary file behind."""
    archive, url, md5 = tiny_archive
    work = tmp_path / "work"
    work.mkdir()
    writer = python("""
        import json, resource, signal, sys
        from pathlib import Path
        import numpy as np
        from resnet_cifar.atomic import write_json, write_npz
        from resnet_cifar.model.checkpoint import save_checkpoint
        from resnet_cifar.data.dataset import Split, save_split
        from resnet_cifar.archive.download import download_cifar10
        from resnet_cifar.errors import UserError
        from resnet_cifar.model.resnet import build_model

        work, url, local, md5 = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        for name in ("metrics.json", "best.pt", "train.npz", "fog.npz"):
            (work / name).write_text("old")
        model = build_model("resnet18")
        split = Split(np.zeros((100, 3, 32, 32), np.uint8), np.zeros(100, np.int64), np.arange(100), ("a",) * 10)
        noise = np.random.default_rng(0).integers(0, 256, (100, 3, 32, 32), dtype=np.uint8)  # does not compress
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY))
        writes = {
            "metrics.json": lambda: write_json(work / "metrics.json", list(range(100_000))),
            "best.pt": lambda: save_checkpoint(work / "best.pt", model, "resnet18", ("a",) * 10),
            "train.npz": lambda: save_split(split, work / "train.npz"),
            "fog.npz": lambda: write_npz(work / "fog.npz", compressed=True, severity_3=noise),
            "local download": lambda: download_cifar10(local, md5, work / "raw1"),
            "http download": lambda: download_cifar10(url, md5, work / "raw2"),
        }
        errors = {}
        for name, write in writes.items():
            try:
                write()
                errors[name] = None
            except UserError as err:
                errors[name] = str(err)
        print(json.dumps(errors))
    """, str(work), url, str(archive), md5)
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    errors = json.loads(out)
    for name, message in errors.items():
        assert message is not None and "cannot write" in message and "File too large" in message, (name, message)
        assert "disk has space" in message
    # The downloads fail on the disk, not the network: no "cannot download ... attempts" retry message.
    assert all("attempts" not in message for message in errors.values())
    assert sorted(p.name for p in work.iterdir()) == ["best.pt", "fog.npz", "metrics.json", "train.npz"]
    assert all((work / name).read_text() == "old" for name in ("best.pt", "metrics.json", "train.npz", "fog.npz"))


def test_training_summary_is_written_atomically(tmp_path, monkeypatch):
    """DVCLive writes metrics.json in place; AtomicLive replaces it whole, so a failed write keeps the old one."""
    pytest.importorskip("dvclive")  # the fast tests also run where only the training stack is installed
    from resnet_cifar import atomic
    from resnet_cifar.engine.live import AtomicLive

    live = AtomicLive(str(tmp_path / "train"), report=None, dvcyaml=None, save_dvc_exp=False)
    live.log_metric("val/acc", 0.25)
    live.next_step()
    summary = tmp_path / "train" / "metrics.json"
    before = summary.read_text()
    assert json.loads(before)["val"]["acc"] == 0.25

    def failing_replace(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    live.log_metric("val/acc", 0.5)
    with pytest.raises(UserError, match="No space left on device"):
        live.make_summary()
    assert summary.read_text() == before
