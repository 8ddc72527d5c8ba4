"""The one reader of DVC's experiments: compare, the search's trials and the paired test all go through it.

`ExperimentStore` lists the project's experiments (the baseline commits, the workspace and each experiment derived
from them) as `Experiment`s, each with its name, revision, state, params.yaml values and metrics, and opens any
file of one of them at its revision, without a checkout. It reads what `dvc exp show --json` shows, through the
same DVC call (`Repo.experiments.show`), and hides DVC's quirks:

- a queued, running or failed experiment is shown by DVC with its baseline's results: its `state` says so, and
  `finished` is false;
- a file DVC could not read (missing in an old commit, torn) gives no values instead of DVC's "!";
- the workspace repeats its baseline's row (or an applied experiment's) until something is run there and not
  saved: such a repeat is left out;
- an experiment whose outputs exist only in DVC's cache, in a clone whose workspace never ran the pipeline, is read
  as well as any other (`dvc.api.metrics_show(rev=...)` fails there: it reads the workspace too).

The DVCLive writer (engine/live.py), the resume state on the remote (engine/remote_resume.py) and the offline plots
installer (tools/offline_plots.py) keep their own narrow use of DVC.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    from dvc.repo import Repo

WORKSPACE = "workspace"
# An experiment's state: DVC's executor states, "done" for an experiment (or commit) with nothing running.
DONE, QUEUED, RUNNING, FAILED = "done", "queued", "running", "failed"


@dataclass(frozen=True)
class Experiment:
    """One row of `dvc exp show`: a baseline commit, the workspace, or an experiment."""

    name: str  # the experiment's name; a commit's branch or short rev; "workspace"
    rev: str  # the commit's full sha; "workspace"
    baseline: str  # the sha of the commit it derives from (a commit's own)
    state: str  # DONE, QUEUED, RUNNING or FAILED
    params: dict[str, Any] = field(default_factory=dict)  # params.yaml's values by dotted key ("train.lr")
    metrics: dict[str, Any] = field(default_factory=dict)  # every metrics file's values by dotted key ("best.val_acc")

    @property
    def finished(self) -> bool:
        """Its results are its own: neither queued, running nor failed (DVC shows those with the baseline's)."""
        return self.state == DONE


def number(value: Any) -> float | None:
    """A metric's value as a number; None where it is none (text, a bool, a missing value)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"best": {"val_acc": 0.5}} -> {"best.val_acc": 0.5}, as `dvc exp show` names columns."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def readable(files: dict[str, Any] | None) -> dict[str, Any]:
    """The values of every file DVC read without error, merged by dotted key (the first file's value wins). A file
    without a result (None: a row DVC lists while another process is still writing the experiment) has none."""
    merged: dict[str, Any] = {}
    for result in (files or {}).values():
        if result and result.get("data") and not result.get("error"):
            merged.update({k: v for k, v in flatten(result["data"]).items() if k not in merged})
    return merged


def as_experiment(row: dict[str, Any], name: str, baseline: str, state: str) -> Experiment:
    """An `Experiment` from one revision of DVC's serialized table (`ExpState.dumpd()`)."""
    data = row.get("data") or {}
    params = readable({"params.yaml": (data.get("params") or {}).get("params.yaml")})
    return Experiment(name=name, rev=row["rev"], baseline=baseline, state=state, params=params,
                      metrics=readable(data.get("metrics")))


def experiments_of(baseline: dict[str, Any]) -> Iterator[Experiment]:
    """A baseline commit (or the workspace) of DVC's table, then every experiment derived from it."""
    sha = baseline["rev"]
    yield as_experiment(baseline, baseline.get("name") or (sha if sha == WORKSPACE else sha[:7]), sha, DONE)
    for exp_range in baseline.get("experiments") or []:
        executor = exp_range.get("executor") or {}
        state = {"success": DONE, None: DONE}.get(executor.get("state"), executor.get("state"))
        row = exp_range["revs"][0]
        yield as_experiment(row, exp_range.get("name") or row.get("name") or row["rev"][:7], sha, state)


def without_repeated_workspace(experiments: list[Experiment]) -> list[Experiment]:
    """Every experiment but a workspace whose params and metrics equal another row's: DVC's workspace row repeats
    the baseline's (or an applied experiment's) results until something is run there."""
    def same(a: Experiment, b: Experiment) -> bool:
        return a.params == b.params and a.metrics == b.metrics

    return [e for e in experiments
            if e.rev != WORKSPACE or not any(same(e, o) for o in experiments if o.rev != WORKSPACE)]


def project_root() -> Path:
    """The DVC project's root, from anywhere inside it: where experiments run and their files are named from."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Path(Repo.find_root())
    except NotDvcRepoError as err:
        raise UserError("not inside a DVC project: run this in the pipeline's repository") from err


class ExperimentStore:
    """The experiments of the DVC project at `root` (by default the one around the current folder)."""

    def __init__(self, root: str | Path | None = None) -> None:
        from dvc.exceptions import NotDvcRepoError
        from dvc.repo import Repo

        try:
            self.repo: Repo = Repo(str(root) if root else None)
        except NotDvcRepoError as err:
            raise UserError(f"{Path(root or Path.cwd())} is not in a DVC project: run this from the project's "
                            "folder") from err
        self.root = Path(self.repo.root_dir)

    def __enter__(self) -> ExperimentStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.repo.close()

    def experiments(self, all_commits: bool = False) -> list[Experiment]:
        """The baseline commit (every commit's with `all_commits`, as `dvc exp show -A`), the workspace where it
        differs, and their experiments, in DVC's order."""
        from dvc.exceptions import DvcException

        try:
            shown = self.repo.experiments.show(all_commits=all_commits)
        except DvcException as err:
            raise UserError(f"cannot read the experiments: {err}") from err
        found = [exp for state in shown for exp in experiments_of(state.dumpd())]
        return without_repeated_workspace(found)

    def experiment(self, name: str) -> Experiment:
        """The experiment (or commit, or the workspace) of that name among HEAD's."""
        for exp in self.experiments():
            if name in (exp.name, exp.rev):
                return exp
        raise UserError(f"no experiment named {name!r}; see `dvc exp show`")

    def revision(self, name: str) -> str | None:
        """The commit of an experiment name (as `dvc exp show` lists it) or a git rev; None for the workspace."""
        from dvc.repo.experiments.exceptions import AmbiguousExpRefInfo
        from dvc.repo.experiments.utils import resolve_name
        from scmrepo.exceptions import SCMError

        if name == WORKSPACE:
            return None
        try:
            ref = resolve_name(self.repo.scm, name).get(name)
        except AmbiguousExpRefInfo as err:  # the same name in experiments of several commits
            raise UserError(str(err)) from err
        if ref is not None:
            return self.repo.scm.get_ref(str(ref))
        try:
            return self.repo.scm.resolve_rev(name)
        except SCMError as err:
            raise UserError(f"no experiment or git revision named {name!r}; see `dvc exp show`") from err

    def read_bytes(self, name: str, path: str) -> bytes:
        """A file (`path` relative to the project's root, posix) of experiment `name` at its revision, through DVC:
        a DVC output comes from the cache, nothing is checked out."""
        import dvc.api
        from dvc.exceptions import DvcException, FileMissingError, PathMissingError

        try:
            with dvc.api.open(path, repo=str(self.root), rev=self.revision(name), mode="rb") as handle:
                return handle.read()
        except (FileNotFoundError, FileMissingError, PathMissingError) as err:
            raise UserError(f"{name} has no {path} here: run its stages, or `dvc exp pull` / `dvc pull` it, "
                            "first") from err
        except DvcException as err:  # a repository another process holds locked, say
            raise UserError(f"cannot read {path} of {name}: {err}") from err
