import http.server
import os
import shutil
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
import torch
import yaml

from cifar_archive import write_archive
from committed import REPO, committed_params_text

# Deterministic cuBLAS; read when CUDA initialises, at the first GPU operation, not when torch is imported.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

PROJECT_FILES = ("dvc.yaml", "params.yaml", "stages", "src", ".dvc/config", ".dvc/plots", ".dvcignore")
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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def http_server():
    """Serve files from a temporary folder on a loopback port: yields (folder, base URL)."""
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="served-"))
    handler = partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def command_env() -> dict[str, str]:
    """The environment for `dvc` and `git` subprocesses: this venv first on PATH, a throwaway git identity."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.invalid",
               DVC_NO_ANALYTICS="1", DVCLIVE_LOGLEVEL="WARNING")
    return env


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=command_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def make_project(dest: Path) -> Path:
    """A fresh git repository holding a copy of this project's pipeline (as a user's clone would): the code of this
    checkout, the committed params.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name == "params.yaml":
            target.write_text(committed_params_text())
        elif src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, target)
    run(dest, "git", "init", "-q", "-b", "main")
    return dest


TINY = {"train_size": 64, "val_size": 32, "test_size": 40}  # subset sizes of the tiny pipeline
TINY_ROBUSTNESS = {"images": 24}  # a sample of the 40 test images, under every corruption of the committed params


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory, http_server) -> tuple[Path, str]:
    """A project whose whole pipeline ran once (`dvc repro`, code committed, results not) on a tiny archive served
    over HTTP: (its folder, the repro's output). Tests read it; tests that change it take `finished_project`."""
    folder, base_url = http_server
    md5 = write_archive(folder / "cifar-tiny.tar.gz")
    project = make_project(tmp_path_factory.mktemp("tiny-pipeline") / "project")
    set_params(project, data={"url": f"{base_url}/cifar-tiny.tar.gz", "md5": md5, **TINY},
               train={"epochs": 2, "batch_size": 16, "lr": 0.02}, evaluate={"batch_size": 16},
               robustness=TINY_ROBUSTNESS, plot={"grid_size": 8})
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "tiny pipeline")
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


def ran_stages(output: str) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` output says it ran, in order."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def set_params(project: Path, **sections: dict) -> None:
    """Update params.yaml section by section, e.g. set_params(project, train={"epochs": 2})."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
