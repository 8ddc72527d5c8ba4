"""The offline page template for `dvc plots show/diff`: libraries inlined, DVC's placeholders kept, CDN left out."""
import pytest

from resnet_cifar.errors import UserError
from resnet_cifar.tools.offline_plots import LIBRARIES, offline_template


def fake_node_modules(root):
    for library in LIBRARIES:
        path = root / library
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'var name = "{library}"; var tag = "</script>";\n//# sourceMappingURL={path.name}.map\n')
    return root


def test_template_inlines_the_libraries_in_order_and_keeps_dvc_placeholders(tmp_path):
    page = offline_template(fake_node_modules(tmp_path))
    positions = [page.index(f'var name = "{library}"') for library in LIBRARIES]
    assert positions == sorted(positions)  # vega before vega-lite before vega-embed, which need it
    assert page.index("{plot_divs}") > positions[-1] and "{refresh_tag}" in page
    # No {scripts} placeholder: DVC would put its CDN links there.
    assert "{scripts}" not in page and "http" not in page
    assert "</script>\";" not in page and page.count('"<\\/script>"') == len(LIBRARIES)
    assert "sourceMappingURL" not in page


def test_missing_libraries_say_to_run_npm_ci(tmp_path):
    with pytest.raises(UserError, match="npm ci"):
        offline_template(tmp_path)
