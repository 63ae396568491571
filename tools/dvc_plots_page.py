"""The HTML page `make plots` has `dvc plots show --html-template` fill in, with Vega, Vega-Lite and
vega-embed inlined from the vl-convert-python package, so the page draws with no network. DVC's own page
(plain `dvc plots show`) loads them from a CDN and is blank offline. Charts are drawn as SVG, which a test
can read.

    python tools/dvc_plots_page.py .dvc/plots/offline.html      (`make plots` does this)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from unrolled.atomic import atomic_path  # noqa: E402

# `{plot_divs}` is DVC's placeholder for the charts; without `{scripts}` DVC adds no CDN tags.
PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>DVC plots (offline)</title>
  <script>{bundle}</script>
  <script>
    // Every chart as SVG (vega-embed's default is a canvas).
    const embedOffline = window.vegaEmbed;
    window.vegaEmbed = (el, spec, opts) => embedOffline(el, spec, {{renderer: "svg", actions: false, ...opts}});
  </script>
  <style>table {{ border-spacing: 15px; }}</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def write_page(path: str | Path) -> Path:
    import vl_convert

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(PAGE.format(bundle=vl_convert.javascript_bundle().replace("</script", "<\\/script")),
                             encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_page(sys.argv[1])
