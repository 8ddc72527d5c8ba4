"""Fixtures and hooks only: the helpers they use live in modules named for what they hold (project.py, sharing.py,
cifar_archive.py, loopback.py...)."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from cifar_archive import write_archive
from loopback import serve_folder
from project import TINY, TINY_ROBUSTNESS, make_project, run, set_params

# Deterministic cuBLAS; read when CUDA initialises, at the first GPU operation, not when torch is imported.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

E2E_TIMEOUT = 1200  # seconds for an e2e test, setup included: a whole pipeline or a queued sweep on a loaded machine


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("timeout"):  # pytest-timeout is a dev extra: a bare machine may lack it
        return
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every device this machine has: the CPU, and a CUDA GPU where there is one, there with deterministic
    algorithms so that tests of bit-exact repeatability mean the same on both."""
    if request.param == "cuda":
        torch.use_deterministic_algorithms(True, warn_only=True)
        request.addfinalizer(lambda: torch.use_deterministic_algorithms(False))
    return torch.device(request.param)


@pytest.fixture(scope="session")
def http_server():
    """Serve files from a temporary folder on a loopback port: yields (folder, base URL)."""
    folder = Path(tempfile.mkdtemp(prefix="served-"))
    try:
        with serve_folder(folder) as base_url:
            yield folder, base_url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_archive(http_server) -> tuple[Path, str, str]:
    """The default tiny CIFAR archive (write_archive's), built once a session and served: (path, URL, MD5).
    Tests only read it."""
    folder, base_url = http_server
    path = folder / "cifar-tiny.tar.gz"
    return path, f"{base_url}/{path.name}", write_archive(path)


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory, tiny_archive) -> tuple[Path, str]:
    """A project whose whole pipeline ran once (`dvc repro`, code committed, results not) on a tiny archive served
    over HTTP: (its folder, the repro's output). Tests read it; tests that change it take `finished_project`."""
    _, url, md5 = tiny_archive
    project = make_project(tmp_path_factory.mktemp("tiny-pipeline") / "project")
    set_params(project, data={"url": url, "md5": md5, **TINY},
               train={"epochs": 2, "batch_size": 16, "lr": 0.02}, evaluate={"batch_size": 16},
               robustness=TINY_ROBUSTNESS, plot={"grid_size": 8})
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "tiny pipeline")  # everything before the repro: HEAD is the tree before it
    return project, run(project, "dvc", "repro").stdout


@pytest.fixture
def finished_project(tiny_pipeline, tmp_path) -> Path:
    """A private copy of the finished tiny pipeline, which the test may change at will."""
    return shutil.copytree(tiny_pipeline[0], tmp_path / "project", symlinks=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A throwaway HOME for the test module: the default remote in .dvc/config is ~/resnet-cifar-dvc-storage."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def origin(tmp_path_factory, home, tiny_pipeline) -> Path:
    """A copy of the tiny pipeline with its baseline results committed, its git history pushed to a bare
    repository `origin.git` beside it. Its DVC remote is the default one in .dvc/config."""
    root = tmp_path_factory.mktemp("team")
    project = shutil.copytree(tiny_pipeline[0], root / "project", symlinks=True)
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "baseline results")
    run(root, "git", "init", "-q", "--bare", "-b", "main", "origin.git")
    run(project, "git", "remote", "add", "origin", str(root / "origin.git"))
    run(project, "git", "push", "-q", "origin", "main")
    return project


@pytest.fixture
def own_origin(origin, tmp_path) -> Path:
    """A private copy of `origin` and of its bare repository, for a test that changes them."""
    root = shutil.copytree(origin.parent, tmp_path / "team", symlinks=True,
                           ignore=lambda folder, names: [n for n in names if n.startswith("teammate")])
    project = root / "project"
    run(project, "git", "remote", "set-url", "origin", str(root / "origin.git"))
    return project
