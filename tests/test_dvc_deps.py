"""dvc.yaml's code deps cover every module each stage runs, as derived from the imports.

A stage's modules are its script (from its `cmd`) and, transitively, every module of this repository that the
script imports (`resnet_cifar.*` and `stages.*`, absolute or relative, with the packages' `__init__.py` files that
an import runs). A dep covers a file if it is that file or a folder above it. `importlib` calls are not followed:
the stages make none. Nor are the imports of the modules left out of the deps (EXCLUDED): config.py reads the facts
it validates against (the dataset's sizes, the corruptions' names, the fewest points of a t-SNE map) from the leaf
modules that own them, which changes no stage's outputs; a stage whose outputs those modules shape imports them
itself.
"""
import ast
import json
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest

from committed import REPO
from pipeline_spec import covers, is_code_dep, load_pipeline
from project import run

# Left out of every stage's deps on purpose, so that changing them reruns nothing. dvc.yaml's header comment says
# why and must name exactly these (test_dvc_yaml_header_names_the_exclusions).
EXCLUDED = frozenset({
    "src/resnet_cifar/config.py",
    "src/resnet_cifar/errors.py",
    "src/resnet_cifar/atomic.py",
    "src/resnet_cifar/paths.py",
    "stages/__init__.py",
})
# Where top-level packages of this repository live; imports of anything else (torch, numpy...) are not followed.
PACKAGE_ROOTS = {"resnet_cifar": "src", "stages": "."}


def module_file(root: Path, name: str) -> str | None:
    """The repository-relative file of module `name`, or None if it is not one of this repository's."""
    top = name.split(".")[0]
    if top not in PACKAGE_ROOTS:
        return None
    base = PurePosixPath(PACKAGE_ROOTS[top], *name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if (root / candidate).is_file():
            return str(candidate)
    return None


def module_name(path: str) -> str:
    parts = PurePosixPath(path).with_suffix("").parts
    parts = parts[1:] if parts[0] == "src" else parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def with_parent_packages(name: str) -> list[str]:
    """Importing a.b.c runs a, a.b and a.b.c."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imported_modules(path: str, source: str) -> set[str]:
    """Names of the modules an import statement anywhere in `source` may run (it may also name a non-module)."""
    package = module_name(path) if path.endswith("__init__.py") else module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {parent for name in names for parent in with_parent_packages(name)}


def only_docstring(source: str) -> bool:
    """A module that is nothing but a docstring cannot change what a stage writes."""
    body = ast.parse(source).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def entry_point(cmd: str) -> str:
    """The script a stage's `cmd` runs: `python -m pkg.module` or `python path/to/script.py`."""
    words = shlex.split(cmd)
    assert re.fullmatch(r"python3?", words[0]), f"not a python command: {cmd}"
    if words[1] == "-m":
        return words[2]
    return module_name(words[1])


def stage_modules(root: Path, cmd: str) -> set[str]:
    """Files of every module of this repository that running `cmd` can run."""
    entry = entry_point(cmd)
    todo = with_parent_packages(entry)
    seen, files = set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(root, name)
        if path is None:
            continue
        files.add(path)
        if path not in EXCLUDED:
            todo.extend(imported_modules(path, (root / path).read_text()))
    return files


def dep_gaps(root: Path, pipeline: dict) -> dict[str, list[str]]:
    """Stage -> the modules it runs that none of its deps covers (and that are not EXCLUDED)."""
    gaps = {}
    for stage, spec in pipeline["stages"].items():
        deps = spec.get("deps", [])
        missing = sorted(path for path in stage_modules(root, spec["cmd"])
                         if path not in EXCLUDED and not any(covers(dep, path) for dep in deps)
                         and not only_docstring((root / path).read_text()))
        if missing:
            gaps[stage] = missing
    return gaps


def unused_code_deps(root: Path, pipeline: dict) -> dict[str, list[str]]:
    """Stage -> its code deps that hold no module it runs: changes there would rerun it for nothing."""
    unused = {}
    for stage, spec in pipeline["stages"].items():
        modules = stage_modules(root, spec["cmd"])
        idle = [dep for dep in spec.get("deps", [])
                if is_code_dep(dep) and not any(covers(dep, path) for path in modules)]
        if idle:
            unused[stage] = idle
    return unused


def test_every_module_a_stage_runs_is_one_of_its_deps():
    assert dep_gaps(REPO, load_pipeline()) == {}


def test_every_code_dep_holds_a_module_the_stage_runs():
    assert unused_code_deps(REPO, load_pipeline()) == {}


def test_the_derivation_sees_the_modules_it_must():
    """Guards against a checker that passes because it derives nothing."""
    pipeline = load_pipeline()
    derived = {stage: stage_modules(REPO, spec["cmd"]) for stage, spec in pipeline["stages"].items()}
    assert set(derived) == {"download", "subset", "train", "evaluate", "corrupt", "robustness", "plot"}
    for stage, modules in derived.items():
        assert f"stages/{stage}.py" in modules and "stages/__init__.py" in modules, stage
        assert any(path.startswith("src/resnet_cifar/") and path not in EXCLUDED for path in modules), stage
    package = "src/resnet_cifar/"
    assert {package + name for name in ("engine/trainer.py", "engine/schedules.py", "model/resnet.py",
                                        "data/batches.py")} <= derived["train"]
    assert package + "archive/download.py" in derived["download"]
    assert package + "figures/plotting.py" in derived["plot"]
    assert package + "figures/plotting.py" not in derived["train"] | derived["evaluate"]
    # The architectures' layouts are the model's; config.py's imports (the plot's t-SNE limit) are not followed.
    assert package + "model/architectures.py" in derived["train"]
    assert package + "model/architectures.py" not in derived["download"] | derived["subset"] | derived["plot"]
    assert package + "analysis/embedding.py" in derived["plot"]
    assert package + "analysis/embedding.py" not in derived["download"] | derived["subset"] | derived["train"]
    # The corrupted images are made by the corruptions alone: neither the model nor the report's code remakes them,
    # and the report reads the corruptions' names, not their code.
    assert package + "robustness/corruptions.py" in derived["corrupt"] - derived["robustness"]
    assert package + "corruption_table.py" in derived["corrupt"] & derived["robustness"]
    assert package + "robustness/report.py" in derived["robustness"] - derived["corrupt"]
    assert not {path for path in derived["corrupt"] if path.startswith((package + "model/", package + "engine/"))}
    # Relative imports are followed: offline_plots imports ..atomic and ..errors.
    tools = stage_modules(REPO, "python -m resnet_cifar.tools.offline_plots")
    assert {package + "atomic.py", package + "errors.py", package + "tools/__init__.py"} <= tools


def test_removing_a_dep_reports_exactly_that_gap():
    pipeline = load_pipeline()
    pipeline["stages"]["train"]["deps"].remove("src/resnet_cifar/engine")
    gaps = dep_gaps(REPO, pipeline)
    assert list(gaps) == ["train"]
    assert gaps["train"] and all(path.startswith("src/resnet_cifar/engine/") for path in gaps["train"])
    assert "src/resnet_cifar/engine/trainer.py" in gaps["train"]
    engine = sorted(path for path in stage_modules(REPO, "python -m stages.train")
                    if path.startswith("src/resnet_cifar/engine/") and not path.endswith("__init__.py"))
    assert gaps["train"] == engine  # the package's __init__.py holds only a docstring


def test_an_excluded_module_is_not_a_gap_but_an_idle_dep_is_reported():
    pipeline = load_pipeline()
    assert "src/resnet_cifar/config.py" in stage_modules(REPO, pipeline["stages"]["download"]["cmd"])
    pipeline["stages"]["download"]["deps"].append("src/resnet_cifar/figures")
    assert dep_gaps(REPO, pipeline) == {}
    assert unused_code_deps(REPO, pipeline) == {"download": ["src/resnet_cifar/figures"]}


def test_dvc_yaml_header_names_the_exclusions():
    header = []
    for line in (REPO / "dvc.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# "))
    text = " ".join(header)
    assert "Left out" in text, "dvc.yaml's header comment should say which modules are left out of the deps"
    named = set(re.findall(r"[\w/]+\.py", text.split("Left out", 1)[1]))
    assert named == EXCLUDED


@pytest.mark.e2e
@pytest.mark.parametrize("edited", ["src/resnet_cifar/figures/plotting.py", "src/resnet_cifar/engine/trainer.py",
                                    "src/resnet_cifar/data/dataset.py"])
def test_editing_a_module_makes_dvc_status_report_the_stages_that_run_it(finished_project, edited):
    project = finished_project
    assert run(project, "dvc", "status").stdout.strip() == "Data and pipelines are up to date."
    with open(project / edited, "a") as f:
        f.write("# edited\n")
    changed = set(json.loads(run(project, "dvc", "status", "--json").stdout))
    pipeline = load_pipeline(project)
    importing = {stage for stage, spec in pipeline["stages"].items() if edited in stage_modules(project, spec["cmd"])}
    assert importing and importing <= changed
    declared = {stage for stage, spec in pipeline["stages"].items() if any(covers(d, edited) for d in spec["deps"])}
    assert changed == declared
    if "figures" in edited:
        assert changed == {"plot"}
    if "engine" in edited:
        assert "train" in changed and not changed & {"download", "subset", "plot"}
