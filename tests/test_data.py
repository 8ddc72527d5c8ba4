import hashlib

import numpy as np
import pytest
import torch

from cifar_archive import write_archive
from committed import data_params
from loopback import serve_folder
from resnet_cifar.archive.download import download_cifar10, fetch
from resnet_cifar.data.batches import CIFAR10_MEAN, CIFAR10_STD, Augmentation, DeviceSplit, normalize, train_batches
from resnet_cifar.data.cifar import read_cifar10
from resnet_cifar.data.dataset import load_split, make_subsets, save_split
from resnet_cifar.errors import UserError


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "cifar.tar.gz"
    return path, write_archive(path)


def test_download_from_local_path_and_file_url(tmp_path, archive):
    path, md5 = archive
    for i, url in enumerate([str(path), path.as_uri()]):
        batches = download_cifar10(url, md5, tmp_path / f"raw{i}")
        assert sorted(p.name for p in batches.iterdir())[:2] == ["batches.meta", "data_batch_1"]


def test_wrong_md5_is_rejected_and_nothing_is_written(tmp_path, archive):
    path, _ = archive
    with pytest.raises(UserError, match="MD5 mismatch"):
        download_cifar10(str(path), "0" * 32, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary leftovers either


@pytest.mark.parametrize("extra, message", [
    ({"../evil.txt": b"x"}, "outside"),
    ({"/etc/evil": b"x"}, "outside"),
    ({"cifar-10-batches-py/../../evil": b"x"}, "outside"),
])
def test_archive_members_that_escape_are_rejected(tmp_path, extra, message):
    src = tmp_path / "bad.tar.gz"
    md5 = write_archive(src, extra=extra)
    with pytest.raises(UserError, match=message):
        download_cifar10(str(src), md5, tmp_path / "raw")
    assert not (tmp_path / "raw").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("kind, target", [
    ("symlink", "/etc/passwd"),
    ("symlink", "data_batch_1"),  # even one that stays inside the folder
    ("hardlink", "cifar-10-batches-py/data_batch_1"),
])
def test_links_in_archive_are_rejected(tmp_path, kind, target):
    import tarfile
    src = tmp_path / "link.tar.gz"
    write_archive(src)
    plain = tmp_path / "plain.tar"
    with tarfile.open(src) as tin, tarfile.open(plain, "w") as tout:
        for m in tin.getmembers():
            tout.addfile(m, tin.extractfile(m))
        link = tarfile.TarInfo("cifar-10-batches-py/passwd")
        link.type, link.linkname = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind], target
        tout.addfile(link)
    md5 = hashlib.md5(plain.read_bytes()).hexdigest()
    with pytest.raises(UserError, match="links"):
        download_cifar10(str(plain), md5, tmp_path / "raw")


def test_archive_missing_batches_is_not_cifar(tmp_path):
    src = tmp_path / "partial.tar.gz"
    md5 = write_archive(src, skip=("data_batch_3",))
    with pytest.raises(UserError, match="missing data_batch_3"):
        download_cifar10(str(src), md5, tmp_path / "raw")


def test_truncated_archive_gives_a_clear_error(tmp_path, archive):
    path, _ = archive
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated"):
        download_cifar10(str(cut), hashlib.md5(cut.read_bytes()).hexdigest(), tmp_path / "raw")


def test_http_download_and_missing_file(tmp_path, archive):
    path, md5 = archive
    with serve_folder(path.parent) as base_url:
        url = f"{base_url}/{path.name}"
        assert download_cifar10(url, md5, tmp_path / "raw").is_dir()
        with pytest.raises(UserError, match="HTTP 404"):
            fetch(url + ".missing", tmp_path / "x", retries=0)


def test_subsets_are_seeded_disjoint_and_round_trip(tmp_path, archive):
    path, md5 = archive
    train, test = read_cifar10(download_cifar10(str(path), md5, tmp_path / "raw"))
    classes = train.classes
    assert train.images.shape == (200, 3, 32, 32) and len(test) == 60 and classes[0] == "airplane"
    sizes = data_params(train_size=120, val_size=50, test_size=30)
    a, b = make_subsets(train, test, sizes, seed=1), make_subsets(train, test, sizes, seed=1)
    c = make_subsets(train, test, sizes, seed=2)
    assert not set(a["train"].source_index) & set(a["val"].source_index)
    assert [len(a[s]) for s in ("train", "val", "test")] == [120, 50, 30]
    assert np.array_equal(a["train"].source_index, b["train"].source_index)
    assert not np.array_equal(a["train"].source_index, c["train"].source_index)
    assert np.array_equal(a["train"].images, train.images[a["train"].source_index])
    save_split(a["val"], tmp_path / "val.npz")
    back = load_split(tmp_path / "val.npz")
    assert back.images.dtype == np.uint8 and np.array_equal(back.images, a["val"].images)
    assert back.classes == classes
    with pytest.raises(UserError, match="only 200 training images"):
        make_subsets(train, test, data_params(train_size=190, val_size=20), seed=0)


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
def test_translate_and_flip_match_a_per_image_reference(padding):
    torch.manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    shift = 4
    augment = Augmentation("random", shift, padding)
    out = augment(images, torch.arange(16), 1, torch.Generator().manual_seed(3))
    # Replay the same random draws and build each image the slow, obvious way: a 32x32 crop of the padded image.
    g = torch.Generator().manual_seed(3)
    top = torch.randint(0, 2 * shift + 1, (16,), generator=g)
    left = torch.randint(0, 2 * shift + 1, (16,), generator=g)
    flip = torch.rand(16, generator=g) < 0.5
    mode = {"zeros": "constant", "reflect": "reflect"}[padding]
    padded = torch.nn.functional.pad(images.float(), (shift,) * 4, mode=mode).to(torch.uint8)
    for i in range(16):
        expected = padded[i, :, top[i]:top[i] + 32, left[i]:left[i] + 32]
        if flip[i]:
            expected = expected.flip(-1)
        assert torch.equal(out[i], expected)
    assert flip.any() and not flip.all()
    assert (top != shift).any() and (left != shift).any()


def test_alternate_flip_shows_every_image_once_each_way_over_two_epochs():
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    augment = Augmentation.drawn("alternate", 0, "zeros", 40, torch.Generator().manual_seed(1))
    index = torch.randperm(40, generator=torch.Generator().manual_seed(2))
    generator = torch.Generator().manual_seed(3)
    flipped = {}
    for epoch in (1, 2, 3):
        out = augment(images[index], index, epoch, generator)
        mirrored = torch.tensor([torch.equal(o, images[i].flip(-1)) for o, i in zip(out, index)])
        plain = torch.tensor([torch.equal(o, images[i]) for o, i in zip(out, index)])
        assert torch.equal(mirrored, ~plain)  # each image comes out either mirrored or as it is
        flipped[epoch] = torch.zeros(40, dtype=torch.bool).index_put((index,), mirrored)
    assert 0 < flipped[1].sum() < 40
    assert torch.equal(flipped[2], ~flipped[1]) and torch.equal(flipped[3], flipped[1])


def test_no_augmentation_draws_no_random_numbers():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert torch.equal(Augmentation()(images, torch.arange(8), 1, generator), images)
    assert torch.equal(generator.get_state(), state)


def test_batches_cover_each_image_once_and_normalise(device):
    rng = np.random.default_rng(0)
    from resnet_cifar.data.dataset import Split
    # Each image's label is its index, so the labels of the batches say which images they hold.
    split = Split(rng.integers(0, 256, (50, 3, 32, 32), dtype=np.uint8), np.arange(50), np.arange(50),
                  tuple("abcdefghij"))
    data = DeviceSplit(split, device)
    labels = torch.cat([b.labels for b in train_batches(data, 16, torch.Generator().manual_seed(0))])
    assert sorted(labels.tolist()) == list(range(50))
    x = normalize(data.images)
    assert x.is_contiguous(memory_format=torch.channels_last) and x.dtype == torch.float32
    assert torch.allclose(x, (data.images.float() / 255 - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1))
                          / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1), atol=1e-5)
    # Uniform bytes average half the range: with CIFAR's channel means (0.45-0.49) and stds (about 0.25) about 0.1
    # after normalising; constants on the wrong scale (bytes, not fractions) would put it in the hundreds.
    assert abs(x.mean().item()) < 0.5


def test_no_augmentation_gives_the_plain_images_in_shuffled_order(device):
    rng = np.random.default_rng(1)
    from resnet_cifar.data.dataset import Split
    split = Split(rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8), np.arange(20) % 10, np.arange(20),
                  tuple("abcdefghij"))
    data = DeviceSplit(split, device)
    plain = list(train_batches(data, 8, torch.Generator().manual_seed(0)))
    augmented = list(train_batches(data, 8, torch.Generator().manual_seed(0),
                                   augmentation=Augmentation("random", 4, "zeros")))
    order = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([b.images for b in plain]), normalize(data.images[order]))
    assert not torch.equal(torch.cat([b.images for b in augmented]), normalize(data.images[order]))
