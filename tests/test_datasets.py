"""CIFAR-100 and folders of your own images: reading them, and every bad input as one line that leaves nothing."""
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from stages.download import unpack_image_folder

from cifar_archive import (
    COARSE_CLASSES,
    FINE_CLASSES,
    FOLDER_CLASSES,
    class_picture,
    image_folder,
    pack,
    write_cifar100_archive,
)
from committed import REPO, committed_params_with, data_params
from resnet_cifar.archive.download import download_archive, official_unpacker
from resnet_cifar.config import parse_params
from resnet_cifar.data.cifar import read_cifar100
from resnet_cifar.data.dataset import load_split, make_subsets
from resnet_cifar.data.images import load_image, read_image_folder
from resnet_cifar.datasets import CIFAR10, CIFAR100, DATASETS
from resnet_cifar.errors import UserError


def test_cifar100_reads_fine_classes_with_their_superclasses_or_the_superclasses(tmp_path):
    md5 = write_cifar100_archive(tmp_path / "c100.tar.gz")
    folder = download_archive(str(tmp_path / "c100.tar.gz"), md5, tmp_path / "raw", official_unpacker("cifar100"))
    assert folder == tmp_path / "raw/cifar-100-python"
    train, test = read_cifar100(folder, "fine")
    assert train.classes == tuple(FINE_CLASSES) and len(train) == 300 and len(test) == 200
    assert train.groups == tuple(COARSE_CLASSES[k % 20] for k in range(100)) == test.groups
    assert train.images.shape == (300, 3, 32, 32) and set(train.labels) == set(range(100))
    coarse_train, coarse_test = read_cifar100(folder, "coarse")
    assert coarse_train.classes == tuple(COARSE_CLASSES) and coarse_train.groups is None
    assert np.array_equal(coarse_train.labels, train.labels % 20)
    assert np.array_equal(coarse_test.images, test.images)
    subsets = make_subsets(train, test, data_params(train_size=200, val_size=50, test_size=100), seed=0)
    assert all(s.groups == train.groups for s in subsets.values())


def test_cifar100_whose_fine_classes_straddle_superclasses_is_refused(tmp_path):
    md5 = write_cifar100_archive(tmp_path / "c100.tar.gz", coarse_of=lambda fine: (fine + np.arange(len(fine))) % 20)
    folder = download_archive(str(tmp_path / "c100.tar.gz"), md5, tmp_path / "raw", official_unpacker("cifar100"))
    with pytest.raises(UserError, match="do not each lie in one superclass"):
        read_cifar100(folder, "fine")


def test_a_cifar10_archive_is_not_taken_for_cifar100(tmp_path):
    from cifar_archive import write_archive
    md5 = write_archive(tmp_path / "c10.tar.gz")
    with pytest.raises(UserError, match="would land outside cifar-100-python/"):
        download_archive(str(tmp_path / "c10.tar.gz"), md5, tmp_path / "raw", official_unpacker("cifar100"))
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("archive, top", [("images.tar.gz", None), ("images.zip", "my-images"),
                                          ("images.tgz", "my-images")])
def test_a_folder_of_mixed_images_becomes_two_splits_at_32x32(tmp_path, archive, top):
    made = image_folder(tmp_path / "made")
    (made / "train/apple/.DS_Store").write_bytes(b"\0\1")  # what a Mac adds: ignored
    (made / "__MACOSX").mkdir()
    (made / "__MACOSX/._0.png").write_bytes(b"junk")
    md5 = pack(made, tmp_path / archive, top)
    raw = tmp_path / "raw"
    folder = download_archive(str(tmp_path / archive), md5, raw, unpack_image_folder)
    assert sorted(p.name for p in raw.rglob("*") if p.is_file()) == ["test.npz", "train.npz"]  # no image kept
    train, test = load_split(folder / "train.npz"), load_split(folder / "test.npz")
    assert train.classes == test.classes == tuple(sorted(FOLDER_CLASSES))
    assert train.images.shape == (60, 3, 32, 32) and test.images.shape == (20, 3, 32, 32)
    assert np.bincount(train.labels).tolist() == [12] * 5 and np.bincount(test.labels).tolist() == [4] * 5
    # Each image is its file resized: the class colour survives in every mode (grayscale has one level).
    first = made / "train/apple/0.png"
    assert np.array_equal(train.images[0], load_image(first))
    means = train.images.reshape(60, 3, -1).mean(2)
    colourful = [i for i, p in enumerate(sorted((made / "train").glob("*/[0-9]*")))
                  if Image.open(p).mode != "L"]
    assert np.abs(means[colourful] - means[colourful].mean(0)).max() > 40  # not all one colour


def test_load_image_turns_any_mode_and_size_into_rgb_32x32(tmp_path):
    rng = np.random.default_rng(0)
    for mode, size in [("RGB", (200, 50)), ("L", (7, 9)), ("RGBA", (32, 32)), ("P", (64, 64)), ("I;16", (40, 40))]:
        path = tmp_path / f"{mode.replace(';', '')}.png"
        class_picture(1, size, mode, rng).save(path)
        image = load_image(path)
        assert image.shape == (3, 32, 32) and image.dtype == np.uint8, mode
    rotated = Image.new("RGB", (40, 20), "red")
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to show upright
    left_half_blue = np.array(rotated)
    left_half_blue[:, :20] = (0, 0, 255)
    Image.fromarray(left_half_blue).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = load_image(tmp_path / "rotated.jpg")
    assert upright[2, :16].mean() > 200 and upright[0, 16:].mean() > 200  # the blue half is on top once turned


# Damages to an image folder: each returns what the one-line error must say.
def truncated(made: Path) -> str:
    path = made / "train/cloud/3.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (60, 60), "white").save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return "cannot read image train/cloud/3.jpg: Truncated File Read"


def not_an_image(made: Path) -> str:
    (made / "test/tulip/readme.txt").write_text("these are tulips")
    return "test/tulip/readme.txt is not an image"


def unknown_test_class(made: Path) -> str:
    shutil.copytree(made / "test/tulip", made / "test/rose")
    return "test/rose/ is a class that train/ lacks"


def empty_class(made: Path) -> str:
    for p in (made / "train/dolphin").iterdir():
        p.unlink()
    return "class folder train/dolphin/ holds no images"


def no_train(made: Path) -> str:
    (made / "train").rename(made / "training")
    return "no train/ folder at its top or in its one top-level folder (found: test/, training/)"


def no_test(made: Path) -> str:
    shutil.rmtree(made / "test")
    return "the archive has train/ but no test/ beside it"


def loose_file(made: Path) -> str:
    (made / "train/labels.csv").write_text("a,b")
    return "train/labels.csv is not in a class folder"


def one_class(made: Path) -> str:
    for name in FOLDER_CLASSES[1:]:
        shutil.rmtree(made / "train" / name)
        shutil.rmtree(made / "test" / name)
    return "train/ has 1 class folder; a classifier needs at least 2"


def symlink(made: Path) -> str:
    (made / "train/apple/link.png").symlink_to("/etc/passwd")
    return "links and special files are not allowed"


@pytest.mark.parametrize("damage", [truncated, not_an_image, unknown_test_class, empty_class, no_train, no_test,
                                    loose_file, one_class, symlink])
def test_each_bad_folder_is_one_line_naming_it_and_nothing_is_written(tmp_path, damage):
    made = image_folder(tmp_path / "made", per_class=(6, 2))
    message = damage(made)
    md5 = pack(made, tmp_path / "bad.tar.gz")
    with pytest.raises(UserError) as err:
        download_archive(str(tmp_path / "bad.tar.gz"), md5, tmp_path / "raw", unpack_image_folder)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "made"]  # no raw, no temporary folder


def test_a_zip_member_that_escapes_is_refused(tmp_path):
    import hashlib
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.writestr("train/a/0.png", b"x")
        z.writestr("../evil.png", b"x")
    md5 = hashlib.md5((tmp_path / "bad.zip").read_bytes()).hexdigest()
    with pytest.raises(UserError, match="refusing archive member '../evil.png'"):
        download_archive(str(tmp_path / "bad.zip"), md5, tmp_path / "raw", unpack_image_folder)
    assert not (tmp_path / "raw").exists() and not (tmp_path / "evil.png").exists()


def test_fewer_images_than_the_subsets_ask_for_is_one_line(tmp_path):
    made = image_folder(tmp_path / "made", per_class=(4, 2))
    train, test = read_image_folder(made)
    with pytest.raises(UserError, match=r"data.train_size \+ data.val_size = 30, but the archive has only 20"):
        make_subsets(train, test, data_params(train_size=20, val_size=10, test_size=5), seed=0)


def params_with(**data) -> str:
    return committed_params_with(yaml.safe_dump({"data": data}))


@pytest.mark.parametrize("data, message", [
    ({"dataset": "cifar1000"}, "data.dataset 'cifar1000' is not one of: cifar10, cifar100, folder"),
    ({"labels": "coarse"}, "data.labels 'coarse' is not one of cifar10's: fine"),
    ({"labels": "medium"}, "data.labels 'medium' is not one of: fine, coarse"),
    ({"dataset": "cifar100"}, "data.dataset is cifar100, but data.md5 is the official CIFAR-10 archive's: point "
                              "data.url and data.md5 at the cifar100 archive (recipes/cifar100.yaml sets both)"),
    ({"dataset": "folder"}, "data.md5 is the official CIFAR-10 archive's"),
    ({"md5": CIFAR100.md5}, "data.dataset is cifar10, but data.md5 is the official CIFAR-100 archive's: point "
                            f"data.url and data.md5 at the cifar10 archive (the official one: {CIFAR10.url}, MD5 "
                            f"{CIFAR10.md5})"),
    ({"dataset": "cifar100", "labels": "coarse", "md5": "0" * 32, "train_size": 49_999},
     "data.train_size + data.val_size = 50999 exceeds the 50000 CIFAR-100 training images"),
])
def test_data_params_are_checked_in_one_line(data, message):
    with pytest.raises(UserError) as err:
        parse_params(yaml.safe_load(params_with(**data)))
    assert message in str(err.value)


def test_a_folder_dataset_takes_any_sizes_until_its_images_are_counted():
    params = parse_params(yaml.safe_load(params_with(dataset="folder", md5="0" * 32, train_size=10**6)))
    assert params.data.train_size == 10**6


def test_the_schema_offers_every_dataset_and_label_set():
    import typing

    from resnet_cifar.config import DatasetName, LabelSet
    assert set(typing.get_args(DatasetName)) == set(DATASETS)
    assert {s for d in DATASETS.values() for s in d.label_sets} == set(typing.get_args(LabelSet))
    assert CIFAR10.md5 == "c58f30108f718f92721af3b95e74349a" and CIFAR100.md5 == "eb9058c3a382ffc7106e4002c42a8d85"


def test_the_cifar100_recipe_names_the_official_archive():
    recipe = yaml.safe_load((REPO / CIFAR100.recipe).read_text())
    assert recipe["data"] == {"dataset": "cifar100", "url": CIFAR100.url, "md5": CIFAR100.md5} | (
        {"labels": recipe["data"]["labels"]} if "labels" in recipe["data"] else {})


def test_the_download_stage_on_a_bad_folder_prints_one_line(tmp_path):
    made = image_folder(tmp_path / "made", per_class=(3, 1))
    (made / "train/apple/notes.txt").write_text("hello")
    md5 = pack(made, tmp_path / "imgs.tar.gz")
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(params_with(dataset="folder", url=str(tmp_path / "imgs.tar.gz"), md5=md5))
    result = subprocess.run([sys.executable, "-m", "stages.download"], cwd=project, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: train/apple/notes.txt is not an image (Pillow cannot read this kind of file)\n"
    assert sorted(p.name for p in project.iterdir()) == ["data", "params.yaml"]
    assert list((project / "data").iterdir()) == []
