"""A user mistake stops any stage before it does any work: one `error:` line on stderr, exit status 2, no
traceback, no file written."""
import errno
import sys

import pytest
import yaml

from project import make_project, run
from resnet_cifar.errors import UserError, report_user_errors

STAGES = ("download", "subset", "train", "evaluate", "corrupt", "robustness", "plot")
TYPO = "error: unknown parameter 'train.learning_rate' (did you mean 'train.lr'?); valid keys here: epochs, "


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_archive):
    """A project whose data.url names a valid local archive (so the download would succeed if it ran) and whose
    params.yaml has one typo, in a section the download stage does not use."""
    project = make_project(tmp_path_factory.mktemp("typo") / "project")
    archive, _, md5 = tiny_archive
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(url=str(archive), md5=md5)
    params["train"]["learning_rate"] = 0.1
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".git" not in p.parts)


@pytest.mark.e2e
@pytest.mark.parametrize("stage", STAGES)
def test_a_bad_params_file_stops_each_stage_before_any_work(project, stage, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    before = files(project)
    result = run(project, sys.executable, "-m", f"stages.{stage}", check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(TYPO) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert files(project) == before


@pytest.mark.e2e
def test_debug_mode_shows_the_traceback(project, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("RESNET_CIFAR_DEBUG", "1")
    result = run(project, sys.executable, "-m", "stages.download", check=False)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "UserError: unknown parameter" in result.stderr


@pytest.mark.e2e
def test_dvc_repro_shows_the_one_line_error_and_writes_no_outputs(project):
    result = run(project, "dvc", "repro", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert TYPO in output and "Traceback" not in output
    assert not (project / "data").exists() and not (project / "dvc.lock").exists()


def test_a_message_quoted_over_several_lines_is_printed_as_one(capsys, monkeypatch):
    monkeypatch.delenv("RESNET_CIFAR_DEBUG", raising=False)

    @report_user_errors
    def main() -> None:
        raise UserError("cannot load x:\n  the library's own\n\n  explanation")

    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: cannot load x: the library's own explanation\n"


def test_a_full_disk_met_by_a_library_is_reported_in_one_line(capsys, monkeypatch):
    """DVCLive and matplotlib write without the package's atomic writer; a full disk there is still no bug."""
    monkeypatch.delenv("RESNET_CIFAR_DEBUG", raising=False)

    @report_user_errors
    def main() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "metrics/train/metrics.json")

    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ("error: cannot write metrics/train/metrics.json: No space left on device; "
                                       "check that its folder is writable and the disk has space\n")

    @report_user_errors
    def buggy() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "a/path/the/code/got/wrong")

    with pytest.raises(FileNotFoundError):  # other OSErrors may be bugs: they keep their traceback
        buggy()


@pytest.mark.e2e
@pytest.mark.parametrize("stage", STAGES[1:])
def test_a_stage_run_by_hand_before_the_one_it_needs_says_what_to_run(tmp_path, stage, monkeypatch):
    """`python -m stages.X` in a fresh clone, without the earlier stages' outputs: one line naming the command."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    project = make_project(tmp_path / "project")
    before = files(project)
    result = run(project, sys.executable, "-m", f"stages.{stage}", check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "run `dvc repro" in result.stderr, result.stderr
    assert files(project) == before
