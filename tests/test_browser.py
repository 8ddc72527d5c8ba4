"""The page checker itself: it must see a chart that never draws, an image that never loads and the errors."""
import shutil
import sys
from pathlib import Path

import optuna
import pytest

from browser import chromium_path, page_text, render, skip_unless_installed
from loopback import free_port, serve
from resnet_cifar.search.study import EXPERIMENT, PRUNED, open_study

BROKEN_PAGE = """<!DOCTYPE html>
<html><head><title>broken</title></head><body>
    <div id="chart"><script>vegaEmbed('#chart', {});</script></div>
    <div id="picture"><p>plots/missing.png</p><img src="static/missing.png"></div>
    <div id="fine"><p>plots/ok.svg</p><img src="ok.svg"></div>
</body></html>
"""
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10"/></svg>'


@pytest.mark.e2e
def test_checker_reports_undrawn_plots_and_errors(tmp_path):
    browser = chromium_path()
    skip_unless_installed(browser is not None, "chromium is not installed (apt-get install chromium)")
    (tmp_path / "index.html").write_text(BROKEN_PAGE)
    (tmp_path / "ok.svg").write_text(SVG)
    report = render(tmp_path / "index.html", browser, timeout=3)
    plots = {p.id: p for p in report.plots}
    assert (plots["chart"].kind, plots["picture"].kind, plots["fine"].kind) == ("vega", "image", "image")
    assert not plots["chart"].drawn and not plots["picture"].drawn
    assert plots["fine"].drawn and plots["fine"].title == "plots/ok.svg" and plots["fine"].images[0]["width"] == 20
    assert any("vegaEmbed is not defined" in e for e in report.errors)
    assert any("missing.png" in e for e in report.errors)


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # trials made by hand, not by Study.optimize
def test_optuna_dashboard_lists_a_searchs_trials(tmp_path):
    browser = chromium_path()
    skip_unless_installed(browser is not None, "chromium is not installed (apt-get install chromium)")
    dashboard = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    skip_unless_installed(dashboard is not None, "optuna-dashboard is not installed (pip install -e '.[dashboard]')")
    url = f"sqlite:///{tmp_path}/defaults.db"  # a study as the search stores it: one complete trial, one pruned
    study = open_study("defaults", url, seed=0)
    for number, state in enumerate((optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)):
        trial = study.ask()
        trial.suggest_float("train.lr", 0.1, 1.6, log=True)
        trial.report(0.3 + number / 10, 1)
        trial.set_user_attr(EXPERIMENT, f"defaults-{number}")
        if state == optuna.trial.TrialState.PRUNED:
            trial.set_user_attr(PRUNED, "at epoch 1 of 4: best val_acc so far 0.4000, below the median")
        study.tell(trial, 0.55 if state == optuna.trial.TrialState.COMPLETE else None, state=state)
    port = free_port()
    with serve([dashboard, url, "--host", "127.0.0.1", "--port", str(port)], port, "optuna-dashboard",
               tmp_path / "dashboard.log", timeout=30):
        text, errors = page_text(f"http://127.0.0.1:{port}/dashboard/studies/1/trials", browser,
                                 ["Trial 0\nComplete", "Trial 1\nPruned", "defaults-0"])
    assert "defaults (id=1)" in text and "2 Trials" in text, text
    assert "Trial 0\nComplete" in text and "Trial 1\nPruned" in text and "experiment defaults-0" in text, text
    assert errors == [], errors
