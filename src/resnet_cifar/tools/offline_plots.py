"""An HTML template that lets `dvc plots show` and `dvc plots diff` draw their charts without internet.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so offline its charts stay blank. This template
inlines the three libraries (BSD-3-Clause) from the npm packages pinned in package.json (`npm ci` installs them)
and has no `{scripts}` placeholder, where DVC would put its CDN links. `python -m resnet_cifar.tools.offline_plots`
writes it into .dvc/ and names it in .dvc/config.local (this clone only, not committed).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ..atomic import write_text
from ..errors import UserError, report_user_errors

LIBRARIES = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")
TEMPLATE = "plots_template.html"  # DVC resolves a relative plots.html_template against .dvc/

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC plots</title>
SCRIPTS_HERE
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def inline_script(source: str) -> str:
    # A literal "</script" would end the element early; "<\\/" means the same inside JavaScript strings and regexes.
    body = source.replace("</script", "<\\/script")
    # Drop the source-map comment: the map is not shipped and the browser would try to fetch it.
    body = "\n".join(line for line in body.splitlines() if not line.startswith("//# sourceMappingURL="))
    return f"    <script>\n{body}\n    </script>"


def offline_template(node_modules: Path) -> str:
    """The page template with vega, vega-lite and vega-embed inlined from `node_modules`."""
    scripts = []
    for library in LIBRARIES:
        path = node_modules / library
        try:
            scripts.append(inline_script(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UserError(f"{path} not found: run `npm ci` in the repository root first") from None
    # {refresh_tag} and {plot_divs} are DVC's placeholders, filled when it writes a page.
    return PAGE.replace("SCRIPTS_HERE", "\n".join(scripts))


def install(repo: Path, node_modules: Path) -> Path:
    """Write the template into `repo`/.dvc and point this clone's DVC config at it; return its path."""
    target = repo / ".dvc" / TEMPLATE
    if not target.parent.is_dir():
        raise UserError(f"{repo} is not a DVC repository (no .dvc folder)")
    write_text(target, offline_template(node_modules))
    result = subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "plots.html_template", TEMPLATE],
                            cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"dvc config failed: {result.stderr.strip()}")
    return target


@report_user_errors
def main() -> None:
    parser = argparse.ArgumentParser(description="Make `dvc plots show/diff` pages work offline in this clone.")
    parser.add_argument("--node-modules", type=Path, default=Path("node_modules"),
                        help="where `npm ci` installed vega, vega-lite and vega-embed (default: ./node_modules)")
    args = parser.parse_args()
    print(f"wrote {install(Path.cwd(), args.node_modules)}; `dvc plots show` and `dvc plots diff` now work offline")


if __name__ == "__main__":
    main()
