"""resnet_cifar.paths and dvc.yaml name the same files for every stage, the stages spell no path of their own, and
params validation loads neither numpy nor torch."""
import ast
import subprocess
import sys
from pathlib import Path, PurePosixPath

from committed import REPO, committed_params_text
from pipeline_spec import covers, is_code_dep, load_pipeline
from resnet_cifar import paths
from resnet_cifar.engine.run import RunFiles

StageSets = dict[str, tuple[set[str], set[str]]]  # stage -> (what it reads, what it writes)


def declared_in_dvc_yaml(pipeline: dict) -> StageSets:
    """Each stage's deps other than code, and its outs, as dvc.yaml spells them."""
    return {stage: ({dep for dep in spec.get("deps", []) if not is_code_dep(dep)}, set(spec.get("outs", [])))
            for stage, spec in pipeline["stages"].items()}


def declared_in_paths(stage_files: dict[str, paths.StageFiles]) -> StageSets:
    return {stage: ({path.as_posix() for path in files.reads}, {path.as_posix() for path in files.writes})
            for stage, files in stage_files.items()}


def drift(in_dvc_yaml: StageSets, in_paths: StageSets) -> dict[str, dict[str, list[str]]]:
    """Stage -> what one of the two names and the other does not; empty where they agree."""
    empty = (set(), set())
    found = {}
    for stage in sorted(in_dvc_yaml.keys() | in_paths.keys()):
        (yaml_reads, yaml_writes), (code_reads, code_writes) = in_dvc_yaml.get(stage, empty), in_paths.get(stage, empty)
        differences = {
            "reads only in dvc.yaml": sorted(yaml_reads - code_reads),
            "reads only in paths.py": sorted(code_reads - yaml_reads),
            "writes only in dvc.yaml": sorted(yaml_writes - code_writes),
            "writes only in paths.py": sorted(code_writes - yaml_writes),
        }
        if any(differences.values()):
            found[stage] = {kind: listed for kind, listed in differences.items() if listed}
    return found


def test_paths_declares_every_stages_files_as_dvc_yaml_does():
    in_dvc_yaml = declared_in_dvc_yaml(load_pipeline())
    assert list(paths.STAGE_FILES) == list(in_dvc_yaml)  # the same stages, in the pipeline's order
    assert drift(in_dvc_yaml, declared_in_paths(paths.STAGE_FILES)) == {}


def test_a_file_named_on_one_side_only_is_reported_on_that_side():
    pipeline = load_pipeline()
    pipeline["stages"]["evaluate"]["outs"].remove("metrics/evaluate.json")
    pipeline["stages"]["corrupt"]["deps"].append("data/subsets/val.npz")
    pipeline["stages"]["plot"]["deps"].append("src/resnet_cifar/model")  # code: test_dvc_deps.py's business
    stage_files = dict(paths.STAGE_FILES)
    stage_files["subset"] = paths.StageFiles(reads=(paths.RAW_BATCHES,), writes=(paths.SUBSETS,))
    del stage_files["download"]
    assert drift(declared_in_dvc_yaml(pipeline), declared_in_paths(stage_files)) == {
        "corrupt": {"reads only in dvc.yaml": ["data/subsets/val.npz"]},
        "download": {"writes only in dvc.yaml": ["data/raw"]},
        "evaluate": {"writes only in paths.py": ["metrics/evaluate.json"]},
        "subset": {"reads only in dvc.yaml": ["data/raw"], "reads only in paths.py": ["data/raw/cifar-10-batches-py"]},
    }


def test_every_file_a_stage_reads_an_earlier_stage_writes():
    written: list[Path] = []
    for stage, files in paths.STAGE_FILES.items():
        for read in files.reads:
            assert any(covers(str(out), str(read)) for out in written), f"{stage} reads {read}, which no stage before"
        written.extend(files.writes)


def test_dvc_yamls_metrics_plots_and_artifact_are_files_the_stages_write():
    pipeline = load_pipeline()
    named = set(pipeline["metrics"]) | {spec["path"] for spec in pipeline["artifacts"].values()}
    for plot in pipeline["plots"]:
        named |= {plot} if isinstance(plot, str) else {path for spec in plot.values() for path in spec["y"]}
    written = [str(path) for files in paths.STAGE_FILES.values() for path in files.writes]
    assert len(named) > len(pipeline["metrics"]) + 2  # plots were found too
    assert [name for name in sorted(named) if not any(covers(out, name) for out in written)] == []


def test_run_files_default_to_the_train_stages_outputs():
    files, train = RunFiles(), paths.STAGE_FILES["train"]
    assert {files.best, files.last, files.summary, files.model_metrics, files.live / "metrics.json",
            files.live / "plots"} == set(train.writes)
    assert covers(str(paths.TRAIN_PLOTS), str(files.progress))


def spelled_paths(source: str, spellings: set[str]) -> list[str]:
    """The strings in `source`, docstrings and comments aside, that contain one of `spellings`."""
    tree = ast.parse(source)
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}  # docstrings
    strings = [node.value for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare]
    return sorted(text for text in strings if any(spelling in text for spelling in spellings))


def path_spellings() -> set[str]:
    """Each path that dvc.yaml's deps and outs or resnet_cifar.paths name, and each name among them that is not a
    plain word (`best.pt`, `cifar-10-batches-py`; `train` or `raw` would match any message)."""
    constants = [value for value in vars(paths).values() if isinstance(value, Path)]
    constants += [path for value in vars(paths).values() if isinstance(value, dict) for path in value.values()
                  if isinstance(path, Path)]  # SUBSET_FILES, FIGURE_FILES
    named = {path.as_posix() for path in constants}
    named |= {path for reads, writes in declared_in_dvc_yaml(load_pipeline()).values() for path in reads | writes}
    return named | {PurePosixPath(path).name for path in named if not PurePosixPath(path).name.isalpha()}


def test_the_finder_sees_a_spelled_path_and_not_a_docstring():
    source = '"""Reads models/best.pt."""\nCHECKPOINT = Path("models/best.pt")\nOUT = f"{root}/clean.npz"\n'
    assert spelled_paths(source, path_spellings()) == ["/clean.npz", "models/best.pt"]


def test_no_stage_spells_a_path_of_its_own():
    spellings = path_spellings()
    assert {"models/best.pt", "clean.npz", "data/corrupted", "cifar-10-batches-py"} <= spellings
    found = {script.name: spelled_paths(script.read_text(), spellings) for script in (REPO / "stages").glob("*.py")}
    assert {script: spelled for script, spelled in found.items() if spelled} == {}


def modules_loaded_by(code: str) -> list[str]:
    """Which of numpy and torch a fresh interpreter has loaded after running `code`."""
    check = f"{code}\nimport sys\nprint(' '.join(m for m in ('numpy', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_importing_config_loads_neither_numpy_nor_torch():
    assert modules_loaded_by("import resnet_cifar.config") == []
    assert modules_loaded_by("import resnet_cifar.paths") == []
    assert modules_loaded_by("import numpy") == ["numpy"]  # the check sees a module that is loaded


def test_validating_params_loads_neither_numpy_nor_torch(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(committed_params_text())
    assert modules_loaded_by(f"from resnet_cifar.config import load_params\nload_params({str(params)!r})") == []
