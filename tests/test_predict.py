"""The `resnet-cifar-predict` command: top-k classes of PNG and JPEG files of any size."""
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cifar_archive import CLASSES
from resnet_cifar.data.batches import normalize
from resnet_cifar.model.checkpoint import save_checkpoint
from resnet_cifar.model.resnet import build_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    model = build_model("resnet18").eval()
    with torch.no_grad():  # spread the logits so the top classes are well apart
        model.fc.weight.mul_(40)
    path = tmp_path_factory.mktemp("predict") / "model.pt"
    save_checkpoint(path, model, "resnet18", tuple(CLASSES), epoch=1)
    return path, model


def predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resnet_cifar.tools.predict", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": ""})


def parse(stdout: str) -> dict[str, list[tuple[str, float]]]:
    """{image path: [(class, probability), ...]} from the command's output."""
    result, current = {}, None
    for line in stdout.splitlines():
        if not line.startswith(" "):
            current = result.setdefault(line, [])
        else:
            _, name, probability = line.split()
            current.append((name, float(probability)))
    return result


def expected_top(model, image: Image.Image, k: int) -> list[tuple[str, float]]:
    """The spec written out: RGB, resized to 32x32, normalised as in evaluation, softmax, top k."""
    pixels = np.asarray(image.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    with torch.no_grad():
        probs = torch.softmax(model(normalize(torch.from_numpy(pixels.copy())[None])), 1)[0]
    values, indices = probs.topk(k)
    return [(CLASSES[i], v) for v, i in zip(values.tolist(), indices.tolist())]


@pytest.mark.e2e
def test_top_k_of_png_and_jpeg_of_any_size(checkpoint, tmp_path):
    path, model = checkpoint
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    large = Image.fromarray(rng.integers(0, 256, (180, 240), dtype=np.uint8), mode="L")  # greyscale, not square
    small.save(tmp_path / "small.png")
    large.save(tmp_path / "large.jpg", quality=95)
    result = predict(str(path), str(tmp_path / "small.png"), str(tmp_path / "large.jpg"), "--top-k", "4")
    assert result.returncode == 0, result.stderr
    shown = parse(result.stdout)
    assert list(shown) == [str(tmp_path / "small.png"), str(tmp_path / "large.jpg")]
    for name, source in (("small.png", small), ("large.jpg", Image.open(tmp_path / "large.jpg"))):
        top = shown[str(tmp_path / name)]
        expected = expected_top(model, source, 4)
        assert [c for c, _ in top] == [c for c, _ in expected]
        assert [p for _, p in top] == pytest.approx([p for _, p in expected], abs=1e-4)
        assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_user_mistakes_are_one_line_errors(checkpoint, tmp_path, monkeypatch, capsys):
    path, _ = checkpoint
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "notes.txt").write_text("not an image")
    cases = [((str(path), str(tmp_path / "missing.png")), "missing.png not found"),
             ((str(path), str(tmp_path / "notes.txt")), "notes.txt is not an image"),
             ((str(path), str(tmp_path / "ok.png"), "-k", "11"), "--top-k must be between 1 and 10"),
             ((str(tmp_path / "none.pt"), str(tmp_path / "ok.png")), "checkpoint")]
    for args, message in cases:
        monkeypatch.setattr(sys, "argv", ["resnet-cifar-predict", *args])
        with pytest.raises(SystemExit) as exit_info:
            import_module("resnet_cifar.tools.predict").main()
        out, err = capsys.readouterr()
        assert exit_info.value.code == 2 and out == ""
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_console_script_is_declared():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["resnet-cifar-predict"].split(":")
    assert module == "resnet_cifar.tools.predict" and callable(getattr(import_module(module), function))
