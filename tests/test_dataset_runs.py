"""End to end: CIFAR-100 and a folder of images through every stage of `dvc exp run`, in a copy of the finished
tiny CIFAR-10 project (the newcomer's path: change data.dataset, url and md5, run)."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from cifar_archive import (
    COARSE_CLASSES,
    FINE_CLASSES,
    FOLDER_CLASSES,
    class_picture,
    image_folder,
    pack,
    write_cifar100_archive,
)
from project import run
from resnet_cifar import paths
from resnet_cifar.data.dataset import load_split
from resnet_cifar.model.checkpoint import load_model

pytestmark = pytest.mark.e2e


def exp_run(project, *settings: str, stage: str | None = None) -> None:
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "results before", check=False)
    run(project, "dvc", "exp", "run", *[arg for s in settings for arg in ("-S", s)], *([stage] if stage else []))


def outputs_name(project, classes: tuple[str, ...]) -> None:
    """The checkpoint, the reports and the predictions of the run in `project` speak of `classes`, and every
    figure is written."""
    _, meta = load_model(project / paths.BEST_CHECKPOINT, "cpu")
    assert tuple(meta["classes"]) == classes
    assert sorted(pd.read_csv(project / paths.PER_CLASS)["class"]) == sorted(classes)  # one row per class
    confusion = pd.read_csv(project / paths.CONFUSION)
    assert set(confusion["actual"]) <= set(classes) and set(confusion["predicted"]) <= set(classes)
    report = pd.read_csv(project / paths.CLASSIFICATION_REPORT)
    assert report["class"].tolist()[:len(classes)] == list(classes)
    with np.load(project / paths.PREDICTIONS) as f:
        assert f["probs"].shape[1] == len(classes)
    for figure in paths.FIGURE_FILES.values():
        assert (project / figure).stat().st_size > 0


def test_cifar100_runs_every_stage_with_its_100_classes_and_its_20_superclasses(finished_project, http_server,
                                                                               tmp_path):
    folder, base_url = http_server
    archive = folder / "cifar-100-tiny.tar.gz"
    md5 = write_cifar100_archive(archive)
    project = finished_project
    exp_run(project, "data.dataset=cifar100", f"data.url={base_url}/{archive.name}", f"data.md5={md5}")
    outputs_name(project, tuple(FINE_CLASSES))
    assert json.loads((project / paths.MODEL_METRICS).read_text())["params"] == 11_173_962 + 90 * 513  # 100-way head
    rows = json.loads(run(project, "dvc", "exp", "show", "--json").stdout)
    [experiment] = [exp["revs"][0]["data"] for row in rows for exp in row.get("experiments") or []]
    assert experiment["params"]["params.yaml"]["data"]["data"]["dataset"] == "cifar100"
    assert yaml.safe_load((project / "params.yaml").read_text())["data"]["dataset"] == "cifar100"
    assert load_split(project / paths.TEST_SUBSET).groups == tuple(COARSE_CLASSES[k % 20] for k in range(100))

    picture = tmp_path / "picture.png"
    class_picture(3, (50, 40), "RGB", np.random.default_rng(0)).save(picture)
    predict = [sys.executable, "-m", "resnet_cifar.tools.predict", str(project / paths.BEST_CHECKPOINT), str(picture)]
    predicted = subprocess.run([*predict, "-k", "1"], capture_output=True, text=True, check=True).stdout
    assert predicted.splitlines()[1].split()[1] in FINE_CLASSES

    exp_run(project, "data.labels=coarse", stage="subset")  # the superclasses: only the subsets need making
    coarse = load_split(project / paths.TRAIN_SUBSET)
    assert coarse.classes == tuple(COARSE_CLASSES) and coarse.groups is None and coarse.labels.max() < 20


def test_a_folder_of_mixed_images_runs_every_stage_named_by_its_folders(finished_project, http_server, tmp_path):
    folder, base_url = http_server
    archive = folder / "my-images.zip"
    md5 = pack(image_folder(tmp_path / "made", per_class=(20, 8)), archive, top="my-images")
    project = finished_project
    exp_run(project, "data.dataset=folder", f"data.url={base_url}/{archive.name}", f"data.md5={md5}")
    outputs_name(project, tuple(sorted(FOLDER_CLASSES)))
    raw = sorted(p.relative_to(project).as_posix() for p in (project / paths.RAW).rglob("*") if p.is_file())
    assert raw == [p.as_posix() for p in sorted(paths.RAW_IMAGE_SPLITS.values())]
