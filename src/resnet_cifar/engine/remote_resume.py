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

Faults never cost the run more than a few seconds: an upload runs in a background thread, an epoch that ends while
the previous upload still runs skips its own (the next epoch's carries on), and any failure prints one warning for the
whole run. Every call to the remote, the opening included, runs in a daemon thread that the run waits on for a bounded
time (`bounded`: CALL_SECONDS for opening, a listing, a check or a removal, MOVE_SECONDS for a move, a transfer time
that grows with the state's size); a call past its time, or one the client itself times out, ends the run's use of
the remote, so that later epochs and the end wait on it no more. An S3 remote's client also gets its own connect and
read timeouts and a single retry where neither the remote's config nor the AWS settings give them
(`limit_s3_client`), so that a refused connection fails in about a second, not after botocore's backoff.

A training run uses it only through its `resume.Resume`, which opens it (`RemoteResume.of_project`, one line where
the project has no default remote), claims from it when there is no local state, uploads each epoch's state and
finishes it when training completes.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..atomic import atomic_path

if TYPE_CHECKING:
    from dvc_objects.fs.base import FileSystem

T = TypeVar("T")

STATE = "train.pt"
CLAIM_PREFIX = "claimed-"
FINISH_WAIT_SECONDS = 60.0  # how long a finished run waits for its last upload before it removes the state
# The time limits of the calls to the remote (docs/sharing.md), generous for a remote that answers at all:
CALL_SECONDS = 5.0  # opening the remote (an SSH one connects), a listing, a check, a removal
MOVE_SECONDS = 30.0  # a move: on S3 a server-side copy of the whole state, then a delete
TRANSFER_SECONDS = 30.0  # an upload or a download: this, and SECONDS_PER_MIB for each MiB of the state
SECONDS_PER_MIB = 2.0  # a link of 0.5 MiB/s (4 Mbit/s) still gets its state through
MIB = 2**20
# An S3 client's own limits where the remote's config and the AWS settings give none (botocore's: 60 s each, and up
# to 5 attempts with backoff): an unanswered call then fails, and its thread ends, soon after the run stops waiting.
S3_TIMEOUTS = {"connect_timeout": 3, "read_timeout": 10}
S3_RETRIES = {"mode": "standard", "total_max_attempts": 2}  # one retry, after at most a second
NO_DEFAULT_REMOTE = ("warning: train.remote_resume is on but this project has no default DVC remote: the resume state "
                     "stays on this machine (set one with `dvc remote add -d NAME URL`)")


class RemoteTimeout(Exception):
    """A call to the remote that did not return within its time limit. Not an OSError: `atomic_path` would take it
    for a failed local write."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")


def bounded(seconds: float, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` in a daemon thread, waited for `seconds` at most: past them RemoteTimeout, and the call is left
    to end on its own (its thread cannot keep the process alive). Its exception, if any, is raised here."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call(*args)
        except BaseException as err:  # a kill in the call (KeyboardInterrupt) too: the waiting thread raises it
            outcome["error"] = err

    thread = threading.Thread(target=run, name="remote-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise RemoteTimeout(seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def timed_out(err: BaseException) -> bool:
    """Whether `err` is the remote not answering in time: our limit, or the client's own (botocore's timeouts are
    not TimeoutErrors, but say what they are in their names)."""
    return isinstance(err, RemoteTimeout | TimeoutError) or any("Timeout" in c.__name__ for c in type(err).__mro__)


def transfer_seconds(size: int) -> float:
    """The time limit of an upload or download of `size` bytes."""
    return TRANSFER_SECONDS + SECONDS_PER_MIB * size / MIB


def worker_name() -> str:
    """A name no other run shares: host, process and a random part (a recycled machine may reuse both)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def open_default_remote(root: str | Path) -> tuple[FileSystem, str] | None:
    """The default remote of the DVC project at `root` as a DVC filesystem, its client made (an SSH remote
    connects), and its path; None where the project has none."""
    from dvc.config import Config
    from dvc.fs import get_cloud_fs

    config = Config(dvc_dir=os.path.join(root, ".dvc"))  # the project's, local and global settings
    name = config["core"].get("remote")
    if not name:
        return None
    fs_class, settings, path = get_cloud_fs(config, name=name)
    fs = fs_class(**settings)
    if fs.protocol == "s3":
        limit_s3_client(fs)
    _ = fs.fs  # the library's client, made lazily: here, within the opening's time limit
    return fs, path


def limit_s3_client(fs: FileSystem) -> None:
    """Give an S3 remote's client S3_TIMEOUTS and S3_RETRIES, each where the user set none: the remote's
    `connect_timeout` and `read_timeout` (`dvc remote modify`), and AWS's max_attempts and retry_mode (environment or
    config file) win."""
    client_config = fs.fs_args.setdefault("config_kwargs", {})
    for name, seconds in S3_TIMEOUTS.items():
        client_config.setdefault(name, seconds)
    if not aws_sets_retries(fs.fs_args.get("profile")):
        client_config["retries"] = dict(S3_RETRIES)


def aws_sets_retries(profile: str | None) -> bool:
    """Whether AWS_MAX_ATTEMPTS, AWS_RETRY_MODE or the profile in AWS's config file sets the retries (botocore's
    config lookup cannot say: it answers its own default too)."""
    from botocore.session import Session

    if any(name in os.environ for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")):
        return True
    try:
        scoped = Session(profile=profile).get_scoped_config()
    except Exception:  # an unknown profile: the first call to S3 says so
        return False
    return any(name in scoped for name in ("max_attempts", "retry_mode"))


class RemoteResume:
    """One run's resume state on a remote: `fs` is a DVC filesystem, `folder` the run's folder on it."""

    def __init__(self, fs: FileSystem, folder: str, worker: str | None = None) -> None:
        self.fs, self.folder, self.worker = fs, folder, worker or worker_name()
        self.state_key = fs.join(folder, STATE)
        self.claim_key = fs.join(folder, f"{CLAIM_PREFIX}{self.worker}.pt")
        self.uploads = True  # off once another worker resumed this fingerprint's state
        self.abandoned = False  # on once a call timed out: the run leaves the remote alone
        self.holds_claim = False
        self.finished = False
        self.warned = False
        self.pending: threading.Thread | None = None
        self.lock = threading.Lock()  # orders an upload's final move against `finish`

    @classmethod
    def of_project(cls, root: str | Path, fingerprint: str) -> RemoteResume | None:
        """The run's folder on the default remote of the DVC project at `root`; None where it has none (with a line
        saying so) or it cannot be opened within CALL_SECONDS (with a warning)."""
        try:
            opened = bounded(CALL_SECONDS, open_default_remote, root)
        except Exception as err:  # a broken remote setting must not stop a run that can train without it
            print(f"warning: no resume state on the DVC remote: {err}", flush=True)
            return None
        if opened is None:
            print(NO_DEFAULT_REMOTE, flush=True)
            return None
        fs, path = opened
        return cls(fs, fs.join(path, "resume", fingerprint))

    def call(self, seconds: float, method: Callable[..., T], *args: Any) -> T:
        """`method(*args)` on the remote within `seconds` (`bounded`); a timeout abandons the remote for the run."""
        try:
            return bounded(seconds, method, *args)
        except Exception as err:
            if timed_out(err):
                self.abandoned = True
            raise

    def warn(self, doing: str, err: BaseException) -> None:
        """One line for the whole run, whatever fails how often."""
        if not self.warned:
            self.warned = True
            then = "leaves the remote alone for the rest of the run" if self.abandoned else "tries again each epoch"
            print(f"warning: could not {doing} the resume state on the DVC remote ({type(err).__name__}: {err}); "
                  f"training goes on with the local state and {then}", flush=True)

    def claim(self, local: Path) -> bool:
        """Take this fingerprint's state from the remote into `local`; False if there is none or another worker
        took it (then this run keeps its state local)."""
        try:
            listing = self.call(CALL_SECONDS, self.fs.ls, self.folder, True)
        except FileNotFoundError:
            return False
        except Exception as err:
            self.warn("read", err)
            return False
        sizes = {self.fs.name(entry["name"]): entry.get("size") or 0 for entry in listing}
        if STATE not in sizes and not any(name.startswith(CLAIM_PREFIX) for name in sizes):
            return False
        try:
            self.call(MOVE_SECONDS, self.fs.mv, self.state_key, self.claim_key)
        except FileNotFoundError:
            self.uploads = False
            print(f"another run resumed the state in {self.folder}: this one starts over and keeps its state local")
            return False
        except Exception as err:
            self.warn("claim", err)
            return False
        self.holds_claim = True
        return self.fetch_claim(local, sizes.get(STATE, 0))

    def fetch_claim(self, local: Path, size: int) -> bool:
        try:
            with atomic_path(local) as tmp:  # a kill during the download leaves no torn local state
                self.call(transfer_seconds(size), self.fs.get_file, self.claim_key, os.fspath(tmp))
        except Exception as err:
            self.warn("download", err)
            self.release_claim()
            return False
        return True

    def release_claim(self) -> None:
        """Put an unread claimed state back for another run, as far as the remote lets us: this run starts over
        and must not delete it once its own first state is stored."""
        self.holds_claim = False
        if self.abandoned:
            return  # the claim stays, for a person to rename (docs/sharing.md)
        try:
            self.call(MOVE_SECONDS, self.fs.mv, self.claim_key, self.state_key)
        except Exception:  # already warned: as above
            pass

    def upload(self, local: Path) -> None:
        """Start storing the state file `local` in the background, unless the previous upload still runs: then
        this epoch's is skipped and the next one's carries on."""
        busy = self.pending is not None and self.pending.is_alive()
        if busy or not self.uploads or self.abandoned or self.finished:
            return
        self.pending = threading.Thread(target=self.store, args=(local,), name="remote-resume", daemon=True)
        self.pending.start()

    def store(self, local: Path) -> None:
        """Upload to this worker's temporary key, then move it onto the state's key: readers see old or new."""
        upload_key = self.fs.join(self.folder, f"upload-{self.worker}.tmp")
        try:
            # The file is replaced, never rewritten, each epoch.
            self.call(transfer_seconds(local.stat().st_size), self.fs.put_file, os.fspath(local), upload_key)
            with self.lock:
                if self.finished:  # the run completed during the upload: nothing to resume
                    self.call(CALL_SECONDS, self.fs.rm_file, upload_key)
                    return
                self.call(MOVE_SECONDS, self.fs.mv, upload_key, self.state_key)
                self.drop_claim()
        except Exception as err:
            self.warn("store", err)

    def drop_claim(self) -> None:
        """The resumed state is stored again under train.pt (or the run completed): the claimed copy can go. Called
        under `lock`."""
        if self.holds_claim:
            self.holds_claim = False
            self.call(CALL_SECONDS, self.fs.rm_file, self.claim_key)

    def wait(self, seconds: float | None = None) -> None:
        """Until the upload in progress, if any, ends (or `seconds` pass)."""
        if self.pending is not None:
            self.pending.join(seconds)

    def finish(self) -> None:
        """The run completed: remove what it stored. Every call has its time limit, and the last upload is waited
        for FINISH_WAIT_SECONDS at most, so a hung remote cannot keep the stage from ending; a removal that fails
        leaves a state that a rerun of the same fingerprint would resume."""
        self.wait(FINISH_WAIT_SECONDS)
        self.remove()

    def remove(self) -> None:
        with self.lock:  # after this, no upload of this run lands
            self.finished = True
            if not self.uploads or self.abandoned:
                return  # the state there is another run's, or the remote does not answer
            try:
                self.drop_claim()
                if self.call(CALL_SECONDS, self.fs.exists, self.state_key):
                    self.call(CALL_SECONDS, self.fs.rm_file, self.state_key)
            except Exception as err:
                self.warn("remove", err)
