"""``make lighthouse``: Lighthouse (mobile) scores and page weights of the main pages.

Starts the platform the way ``bench --only platform`` does (uvicorn with DEBUG off, a Celery
worker, a fresh SQLite database and an embedded Redis under a temporary directory), uploads a
50k-row CSV and runs IForest on it, then audits, signed in through the session cookie:
sign-in, the workspace dashboard, the datasets list and that run's results page. Lighthouse is
the npm package pinned in ``tools/lighthouse`` (``make lighthouse`` installs it with ``npm ci``)
driving Debian's Chromium (``CHROME_PATH``, default /usr/bin/chromium). Prints one row per page:
the four category scores, the bytes transferred, LCP and TBT, with the load average beside them
(Lighthouse's performance score drops on a busy machine: read it against the load).

Targets (issue 15): performance ≥ 90, accessibility 100, best practices 100, SEO ≥ 95.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import engine
from bench import platform as platform_bench

ROOT = engine.ROOT
TOOL = ROOT / "tools" / "lighthouse"
BINARY = TOOL / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-background-networking"


def audit(url: str, cookie: str | None, out: Path) -> dict:
    headers = out.with_suffix(".headers.json")
    headers.write_text(json.dumps({"Cookie": cookie} if cookie else {}))
    argv = [
        str(BINARY),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--extra-headers={headers}",
        # A session cookie must survive: Lighthouse would clear storage first.
        "--disable-storage-reset",
    ]
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"lighthouse failed on {url}: {done.stderr[-1500:]}")
    report = json.loads(out.read_text())
    audits = report["audits"]
    return {
        "final_url": report.get("finalDisplayedUrl") or report.get("finalUrl"),
        "scores": {c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES},
        "bytes": audits["total-byte-weight"]["numericValue"],
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "tbt_ms": audits["total-blocking-time"]["numericValue"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.lighthouse", description=__doc__.splitlines()[0]
    )
    p.add_argument("--rows", type=int, default=50_000, help="rows of the run on the results page")
    p.add_argument("--json", type=Path, help="also write the table as JSON here")
    p.add_argument("--reports", type=Path, help="keep each page's Lighthouse report (JSON) here")
    args = p.parse_args(argv)
    if not BINARY.exists():
        print(f"lighthouse is not installed: run `npm ci` in {TOOL} (make lighthouse does)")
        return 2

    work = Path(tempfile.mkdtemp(prefix="pynomaly-lighthouse-"))
    rows: list[dict] = []
    try:
        csv = engine.make_csv(args.rows)
        with platform_bench.Platform(work, fit_rows=args.rows) as plat:
            result = platform_bench.run_platform(plat, csv, "lighthouse", timeout=600)
            if result.error or not result.run_url:
                print(f"could not prepare the results page: {result.error}")
                return 1
            session = platform_bench._login(plat.url)
            cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
            base = f"{plat.url}/t/{plat.setup['slug']}"
            pages = [
                ("sign-in", f"{plat.url}/accounts/login/", None),
                ("dashboard", f"{base}/", cookie),
                ("datasets", f"{base}/datasets/", cookie),
                (f"results ({args.rows // 1000}k rows)", result.run_url, cookie),
            ]
            for name, url, page_cookie in pages:
                load = os.getloadavg()[0]
                report = audit(url, page_cookie, work / f"{len(rows)}.json")
                if args.reports:
                    args.reports.mkdir(parents=True, exist_ok=True)
                    slug = name.split(" ")[0]
                    shutil.copy(work / f"{len(rows)}.json", args.reports / f"{slug}.json")
                rows.append({"page": name, "url": url, "load": load, **report})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    header = ["page", "perf", "a11y", "best", "seo", "KB", "LCP s", "TBT ms", "load"]
    table = [
        [
            r["page"],
            *(str(r["scores"][c]) for c in CATEGORIES),
            f"{r['bytes'] / 1024:,.0f}",
            f"{r['lcp_ms'] / 1000:.1f}",
            f"{r['tbt_ms']:.0f}",
            f"{r['load']:.2f}",
        ]
        for r in rows
    ]
    print(
        "Lighthouse (mobile, simulated throttling) — targets: perf ≥ 90, a11y 100, best 100, seo ≥ 95"
    )
    platform_bench._table(header, table, numeric=set(range(1, len(header))))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
