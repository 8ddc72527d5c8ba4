"""Archives that pass the MD5 check (the user vouched for them) but do not hold CIFAR-10, or hold code."""
import builtins
import pickle
import shutil

import numpy as np
import pytest

from cifar_archive import CLASSES, write_archive
from committed import data_params
from resnet_cifar.archive.download import download_cifar10
from resnet_cifar.data.cifar import read_cifar10
from resnet_cifar.data.dataset import Split, make_subsets
from resnet_cifar.errors import UserError

PER_BATCH = 40


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """A valid extracted `cifar-10-batches-py` folder, to copy and spoil one file of."""
    folder = tmp_path_factory.mktemp("good")
    md5 = write_archive(folder / "cifar.tar.gz", per_batch=PER_BATCH)
    return download_cifar10(str(folder / "cifar.tar.gz"), md5, folder / "raw")


def batch(data=None, labels=None, **changes) -> dict:
    rng = np.random.default_rng(0)
    content = {b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8) if data is None else data,
               b"labels": list(rng.integers(0, 10, PER_BATCH)) if labels is None else labels}
    content.update(changes)
    return content


class OpensAFile:
    """Unpickling this calls `open(path, "w")`: proof that loading ran code named by the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return builtins.open, (self.path, "w")


@pytest.mark.parametrize("member, content, message", [
    ("data_batch_2", batch(data=np.zeros((PER_BATCH, 3072), np.float32)), "images must be uint8 rows of 3072"),
    ("data_batch_2", batch(data=np.zeros((PER_BATCH, 1024), np.uint8)), r"got uint8 \(40, 1024\)"),
    ("test_batch", batch(labels=[10] * PER_BATCH), r"labels must lie in 0\.\.9, got 10\.\.10"),
    ("data_batch_1", batch(labels=[-1] + [0] * (PER_BATCH - 1)), r"labels must lie in 0\.\.9, got -1\.\.0"),
    ("data_batch_5", batch(labels=[0] * (PER_BATCH - 1)), "40 images but 39 labels"),
    ("data_batch_3", batch(labels=["cat"] * PER_BATCH), "labels must be a flat list of integers"),
    ("data_batch_3", batch(data=[[0] * 3072, [0] * 5]), "must be an array or a flat list"),
    ("data_batch_4", {b"data": np.zeros((PER_BATCH, 3072), np.uint8)}, "has no 'labels' entry"),
    ("data_batch_4", [1, 2, 3], "holds a list, not a dict"),
    ("batches.meta", {b"label_names": [c.encode() for c in CLASSES[:9]]}, "lists 9 label names, CIFAR-10 has 10"),
    ("test_batch", b"\x00not a pickle", "cannot read CIFAR-10 batch"),
])
def test_batches_that_are_not_cifar10_are_rejected(tmp_path, extracted, member, content, message):
    folder = shutil.copytree(extracted, tmp_path / "batches")
    payload = content if isinstance(content, bytes) else pickle.dumps(content, protocol=2)
    (folder / member).write_bytes(payload)
    with pytest.raises(UserError, match=message):
        read_cifar10(folder)


def test_a_batch_that_names_code_is_refused_without_running_it(tmp_path, extracted):
    folder = shutil.copytree(extracted, tmp_path / "batches")
    marker = tmp_path / "code-ran"
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch(evil=OpensAFile(marker)), protocol=2))
    with pytest.raises(UserError, match=r"refers to io\.open.*refusing to load code"):
        read_cifar10(folder)
    assert not marker.exists()


def test_arrays_pickled_by_older_numpy_still_load(tmp_path, extracted):
    """The official archive names numpy.core.multiarray, which numpy 2 renamed; labels may be numpy integers."""
    folder = shutil.copytree(extracted, tmp_path / "batches")
    labels = [np.int64(i % 10) for i in range(PER_BATCH)]
    payload = pickle.dumps(batch(labels=labels), protocol=2).replace(b"numpy._core.multiarray",
                                                                     b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in payload
    (folder / "data_batch_1").write_bytes(payload)
    train, _ = read_cifar10(folder)
    assert list(train.labels[:PER_BATCH]) == [i % 10 for i in range(PER_BATCH)]


def small_split(n: int) -> Split:
    return Split(np.zeros((n, 3, 32, 32), np.uint8), np.arange(n) % 10, np.arange(n), tuple(CLASSES))


@pytest.mark.parametrize("sizes, message", [
    (dict(train_size=150, val_size=51, test_size=10), r"train_size \+ data\.val_size = 201, but the archive has "
                                                      r"only 200 training images"),
    (dict(train_size=100, val_size=50, test_size=61), "data.test_size = 61, but the archive has only 60 test"),
])
def test_subsets_larger_than_a_small_archive_are_rejected(sizes, message):
    with pytest.raises(UserError, match=message):
        make_subsets(small_split(200), small_split(60), data_params(**sizes), seed=0)
