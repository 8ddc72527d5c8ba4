"""The resume state on the project's default DVC remote, so that a run survives the loss of its machine.

With train.remote_resume on, the train stage keeps a copy of each epoch's resume state on the remote that `dvc push`
uses, read through DVC's own config and filesystem layer (credentials included), beside DVC's `files/md5` and never
inside it:

    <remote>/resume/<fingerprint>/train.pt             the state after the last epoch stored
    <remote>/resume/<fingerprint>/upload-<worker>.tmp  an upload in progress, moved onto train.pt once whole
    <remote>/resume/<fingerprint>/claimed-<worker>.pt  the state a resuming worker took

A reader never sees a half-written train.pt: an upload goes to its own temporary key and is then moved, so a kill
during an upload leaves the previous state in place.

Claim rule: a run that starts with no local state moves train.pt to its own claimed-<worker>.pt before reading it.
Of two workers with the same fingerprint one move succeeds; that worker resumes, and removes its claim once its own
next state is stored. The other finds the state gone or claimed, starts over, and keeps its state local only, so
that it never replaces the resumed run's newer state. On a remote whose move is a copy then a delete (S3) two claims
made at the same instant can both succeed: both workers then train the same epochs to the same states, so nothing
is lost but time.

Faults never cost the run: an upload runs in a background thread, an epoch that ends while the previous upload still
runs skips its own (the next epoch's carries on), and any failure prints one warning for the whole run.

A training run uses it only through its `resume.Resume`, which opens it (`RemoteResume.of_project`), claims from it
when there is no local state, uploads each epoch's state and finishes it when training completes.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import atomic_path

if TYPE_CHECKING:
    from dvc_objects.fs.base import FileSystem

STATE = "train.pt"
CLAIM_PREFIX = "claimed-"
FINISH_WAIT_SECONDS = 60.0  # how long a finished run waits for its last upload and the removal before it exits


def worker_name() -> str:
    """A name no other run shares: host, process and a random part (a recycled machine may reuse both)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class RemoteResume:
    """One run's resume state on a remote: `fs` is a DVC filesystem, `folder` the run's folder on it."""

    def __init__(self, fs: FileSystem, folder: str, worker: str | None = None) -> None:
        self.fs, self.folder, self.worker = fs, folder, worker or worker_name()
        self.state_key = fs.join(folder, STATE)
        self.claim_key = fs.join(folder, f"{CLAIM_PREFIX}{self.worker}.pt")
        self.uploads = True  # off once another worker resumed this fingerprint's state
        self.holds_claim = False
        self.finished = False
        self.warned = False
        self.pending: threading.Thread | None = None
        self.lock = threading.Lock()  # orders an upload's final move against `finish`

    @classmethod
    def of_project(cls, root: str | Path, fingerprint: str) -> RemoteResume | None:
        """The run's folder on the default remote of the DVC project at `root`; None where it has none."""
        from dvc.config import Config
        from dvc.fs import get_cloud_fs

        try:
            config = Config(dvc_dir=os.path.join(root, ".dvc"))  # the project's, local and global settings
            name = config["core"].get("remote")
            if not name:
                return None
            fs_class, settings, path = get_cloud_fs(config, name=name)
            fs = fs_class(**settings)
        except Exception as err:  # a broken remote setting must not stop a run that can train without it
            print(f"warning: no resume state on the DVC remote: {err}")
            return None
        return cls(fs, fs.join(path, "resume", fingerprint))

    def warn(self, doing: str, err: BaseException) -> None:
        """One line for the whole run, whatever fails how often."""
        if not self.warned:
            self.warned = True
            print(f"warning: could not {doing} the resume state on the DVC remote ({type(err).__name__}: {err}); "
                  f"training goes on with the local state and tries again each epoch", flush=True)

    def claim(self, local: Path) -> bool:
        """Take this fingerprint's state from the remote into `local`; False if there is none or another worker
        took it (then this run keeps its state local)."""
        try:
            names = {self.fs.name(path) for path in self.fs.ls(self.folder, detail=False)}
        except FileNotFoundError:
            return False
        except Exception as err:
            self.warn("read", err)
            return False
        if STATE not in names and not any(name.startswith(CLAIM_PREFIX) for name in names):
            return False
        try:
            self.fs.mv(self.state_key, self.claim_key)
        except FileNotFoundError:
            self.uploads = False
            print(f"another run resumed the state in {self.folder}: this one starts over and keeps its state local")
            return False
        except Exception as err:
            self.warn("claim", err)
            return False
        self.holds_claim = True
        return self.fetch_claim(local)

    def fetch_claim(self, local: Path) -> bool:
        try:
            with atomic_path(local) as tmp:  # a kill during the download leaves no torn local state
                self.fs.get_file(self.claim_key, os.fspath(tmp))
        except Exception as err:
            self.warn("download", err)
            self.release_claim()
            return False
        return True

    def release_claim(self) -> None:
        """Put an unread claimed state back for another run, as far as the remote lets us: this run starts over
        and must not delete it once its own first state is stored."""
        self.holds_claim = False
        try:
            self.fs.mv(self.claim_key, self.state_key)
        except Exception:  # already warned: the claim stays, for a person to rename (docs/sharing.md)
            pass

    def upload(self, local: Path) -> None:
        """Start storing the state file `local` in the background, unless the previous upload still runs: then
        this epoch's is skipped and the next one's carries on."""
        if not self.uploads or self.finished or (self.pending is not None and self.pending.is_alive()):
            return
        self.pending = threading.Thread(target=self.store, args=(local,), name="remote-resume", daemon=True)
        self.pending.start()

    def store(self, local: Path) -> None:
        """Upload to this worker's temporary key, then move it onto the state's key: readers see old or new."""
        upload_key = self.fs.join(self.folder, f"upload-{self.worker}.tmp")
        try:
            self.fs.put_file(os.fspath(local), upload_key)  # the file is replaced, never rewritten, each epoch
            with self.lock:
                if self.finished:  # the run completed during the upload: nothing to resume
                    self.fs.rm_file(upload_key)
                    return
                self.fs.mv(upload_key, self.state_key)
                self.drop_claim()
        except Exception as err:
            self.warn("store", err)

    def drop_claim(self) -> None:
        """The resumed state is stored again under train.pt (or the run completed): the claimed copy can go. Called
        under `lock`."""
        if self.holds_claim:
            self.holds_claim = False
            self.fs.rm_file(self.claim_key)

    def wait(self, seconds: float | None = None) -> None:
        """Until the upload in progress, if any, ends (or `seconds` pass)."""
        if self.pending is not None:
            self.pending.join(seconds)

    def finish(self) -> None:
        """The run completed: remove what it stored. Waits a bounded time, so a hung remote cannot keep the stage
        from ending; a removal that fails leaves a state that a rerun of the same fingerprint would resume."""
        self.wait(FINISH_WAIT_SECONDS)
        remover = threading.Thread(target=self.remove, name="remote-resume-removal", daemon=True)
        remover.start()
        remover.join(FINISH_WAIT_SECONDS)

    def remove(self) -> None:
        with self.lock:  # after this, no upload of this run lands
            self.finished = True
            if not self.uploads:
                return  # the state there is another run's
            try:
                self.drop_claim()
                if self.fs.exists(self.state_key):
                    self.fs.rm_file(self.state_key)
            except Exception as err:
                self.warn("remove", err)
