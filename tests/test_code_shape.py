"""The shape of the code: no function in src/ or stages/ longer than a reader takes in at once."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 45  # decorators and docstring included
# Functions let past the limit, as `path:function`, each with the reason it reads better whole: none at present.
ALLOWED: set[str] = set()


def function_lengths(source: str) -> dict[str, int]:
    """Lines of every function and method in `source`, from its first decorator to its last line, by name."""
    lengths = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lengths[node.name] = max(lengths.get(node.name, 0), node.end_lineno - first + 1)
    return lengths


def too_long(root: Path) -> list[str]:
    """`path:function (lines)` for each function under root's src/ and stages/ over MAX_LINES, bar ALLOWED."""
    found = []
    for path in sorted([*(root / "src").rglob("*.py"), *(root / "stages").rglob("*.py")]):
        relative = path.relative_to(root).as_posix()
        for name, lines in function_lengths(path.read_text()).items():
            if lines > MAX_LINES and f"{relative}:{name}" not in ALLOWED:
                found.append(f"{relative}:{name} ({lines} lines)")
    return found


def test_no_function_in_src_or_stages_is_longer_than_the_limit():
    assert too_long(ROOT) == []


def test_the_allowed_functions_exist_and_are_still_long():
    """An allowance outlives its reason when its function is gone or has become short: then it should go."""
    for entry in ALLOWED:
        path, name = entry.split(":")
        assert function_lengths((ROOT / path).read_text()).get(name, 0) > MAX_LINES, entry


@pytest.mark.parametrize("body_lines, decorated, expected", [(43, False, []), (44, False, ["f (46 lines)"]),
                                                             (42, True, []), (43, True, ["f (46 lines)"])])
def test_the_check_counts_decorators_and_docstring(tmp_path, body_lines, decorated, expected):
    # def line + docstring line + body: 43 body lines make 45, the limit; a decorator adds one.
    body = "".join(f"    x{i} = {i}\n" for i in range(body_lines))
    source = ("@staticmethod\n" if decorated else "") + 'def f():\n    """Doc."""\n' + body
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text(source)
    assert [entry.removeprefix("src/m.py:") for entry in too_long(tmp_path)] == expected


PACKAGE = ROOT / "src" / "resnet_cifar"
# The package's folders (subpackages), which the layering below is about.
FOLDERS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def package_imports(path: Path) -> set[str]:
    """The first component below resnet_cifar of every module `path` imports from the package ("tools",
    "config", ...), relative imports resolved."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts  # ("resnet_cifar", "search", "trial")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[:len(parts) - node.level])
                names = [*base, *(node.module or "").split(".")] if node.module else base
                targets = [names] if node.module else [[*base, alias.name] for alias in node.names]
            else:
                targets = [(node.module or "").split(".")]
        elif isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        else:
            continue
        found |= {t[1] for t in targets if len(t) > 1 and t[0] == "resnet_cifar" and t[1]}
    return found


def test_no_module_outside_tools_imports_tools():
    importers = [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")
                 if "tools" in package_imports(p) and p.parent.name != "tools"]
    assert importers == []


def test_config_imports_no_folder_of_the_package():
    """Every folder imports config.py, so an import back from it would run up the house."""
    assert package_imports(PACKAGE / "config.py") & set(FOLDERS) == set()


def test_the_import_reader_resolves_relative_imports():
    # search/trial.py: `from ..errors import ...`, `from ..experiments.store import ...`, `from ..overrides ...`.
    assert {"errors", "experiments", "overrides"} <= package_imports(PACKAGE / "search" / "trial.py")
    assert "search" in package_imports(PACKAGE / "tools" / "search.py")  # `from ..search.runner import ...`
    assert package_imports(PACKAGE / "errors.py") == set()
