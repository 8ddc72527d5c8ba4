"""The page checker itself: it must see a chart that never draws, an image that never loads and the errors."""
import pytest

from browser import chromium_path, render, skip_unless_installed

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
