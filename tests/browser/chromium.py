"""Debian's Chromium as Playwright launches it here (the browser tests and the benchmark)."""

CHROMIUM = "/usr/bin/chromium"  # Debian's package: `playwright install` cannot download one here
# Without the background-networking flags Chromium keeps calling home, which this network refuses.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
