"""Stopping a `dvc repro` (or any command that runs the training code) at a chosen point of training, however fast
the machine trains: a hook, installed for that run only, wraps a function of the training code so that it says when
it got there (a marker file) and then waits (forever, to be killed, or until the test lets it go on)."""
import os
import signal
import subprocess
import time
from pathlib import Path

from project import command_env

# Python imports a sitecustomize module found on its path at start-up. This one wraps MODULE once it is loaded, with
# the `patch(module)` that the test's `patch_source` defines, which may call `arrived()` and `hold()`. It acts when
# the module is imported, which is after stages/__init__.py has put the project's own src/ first on the path, so it
# wraps that copy's module and imports none itself.
HOOK = """
import importlib.abc
import os
import sys
import time


def arrived():
    with open(MARKER, "w") as f:
        f.write("here")


def hold():
    while not os.path.exists(GO):
        time.sleep(0.1)


class Patching(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):  # get_source and the like, for tracebacks
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        patch(module)


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    spec.loader = Patching(spec.loader)
                    return spec
        return None


sys.meta_path.insert(0, Finder())
"""

# A `patch_source` that blocks the training process right after it saved its first epoch's resume state: there
# training is surely under way, however fast the machine trains, and the test kills it.
BLOCK_AFTER_FIRST_SAVE = """
MODULE = "resnet_cifar.engine.resume"


def patch(module):
    save = module.save_resume_state

    def save_then_block(*args, **kwargs):
        save(*args, **kwargs)
        arrived()
        hold()  # until killed: the test never lets it go on

    module.save_resume_state = save_then_block
"""


def hooked_env(base: Path, patch_source: str) -> tuple[dict[str, str], Path, Path]:
    """An environment in which every Python process has `patch_source` (which sets MODULE and defines `patch`)
    hooked in, and the hook's marker and go files: (environment, marker, go). The hook's files are `base`-hook/,
    `base`-arrived and `base`-go."""
    hook, marker, go = (base.parent / f"{base.name}-{end}" for end in ("hook", "arrived", "go"))
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(f"MARKER = {str(marker)!r}\nGO = {str(go)!r}\n" + patch_source + HOOK)
    env = command_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))  # this run only
    return env, marker, go


class HookedRepro:
    """`dvc repro target` in `project` with `patch_source` (which sets MODULE and defines `patch`) hooked in; its
    output goes to a log beside the project."""

    def __init__(self, project: Path, target: str, patch_source: str) -> None:
        env, self.marker, self.go = hooked_env(project, patch_source)
        self.log = project.parent / f"{project.name}-log"
        with open(self.log, "w") as output:
            self.proc = subprocess.Popen(["dvc", "repro", target], cwd=project, env=env, stdout=output,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until_arrived(self, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while not self.marker.exists():
            assert self.proc.poll() is None, f"dvc repro ended before the hook's point:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"dvc repro did not reach the hook's point in time:\n{self.output}"
            time.sleep(0.1)

    def go_on(self) -> None:
        self.go.write_text("go")

    def kill(self, sig: int) -> None:
        """Send `sig` to the whole process group (dvc and the stage) and wait for it to end."""
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=60)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    @property
    def output(self) -> str:
        return self.log.read_text()
