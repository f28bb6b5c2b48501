"""The size of each page of the course site that ``mpqlab book`` built (default folder ``runs/book``), and the one
shared ``plotly.min.js``. Goal: every page under 5 MB besides plotly.min.js.

    mpqlab book && python benchmarks/page_sizes.py [site folder]
"""
import sys
from pathlib import Path

from _common import table

site = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/book")
pages = sorted(site.glob("*.html")) + sorted(site.glob("*.js"))
if not pages:
    sys.exit(f"no site in {site}: run `mpqlab book` first")
table([[p.name, f"{p.stat().st_size / 1e6:.2f}", "" if p.suffix == ".js" else
        ("yes" if p.stat().st_size < 5e6 else "NO")] for p in pages], ["page", "MB", "under 5 MB"])
