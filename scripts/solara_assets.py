"""Install the front-end files the Solara server would fetch from a CDN, from the npm registry.

A Solara page loads its JavaScript and CSS (the Vuetify app, RequireJS, Font Awesome) through
the server's CDN proxy, which fetches them from a public CDN on first use and caches them in
``<venv>/share/solara/cdn``. Where that CDN is out of reach (an offline machine, a CI box
with only package registries), the page never starts. This script reads which packages the
installed Solara asks for, gets each with ``npm pack`` (the npm registry's own client) and
unpacks it into that cache, so the app and its browser test work offline.

Usage: ``python scripts/solara_assets.py`` (idempotent; run by ``make setup-browser``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# `{{cdn}}/<package>@<version>/...` in Solara's page template and settings.
_SPEC = re.compile(r"\{\{cdn\}\}/((?:@[\w.-]+/)?[\w.-]+@[\w.-]+)/")


def wanted() -> list[str]:
    """``name@version`` of every CDN package the installed Solara's page loads."""
    import solara.server
    from solara.server import settings

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    specs = set(_SPEC.findall(template.read_text(encoding="utf-8")))
    if settings.assets.fontawesome_enabled:
        specs.add(settings.assets.fontawesome_path.strip("/").split("/")[0])
    return sorted(specs)


def cache_dir() -> Path:
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def install(spec: str, cache: Path) -> bool:
    """Unpack ``spec`` into ``cache/spec``; False if it was there already."""
    target = cache / spec
    if (target / "package.json").is_file():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", tmp, spec],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        tarball = Path(tmp) / out[-1]
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / "package"), target)
    return True


def main() -> int:
    if shutil.which("npm") is None:
        print("solara_assets: npm not found; the app will fetch its assets from the CDN")
        return 0
    cache = cache_dir()
    for spec in wanted():
        done = install(spec, cache)
        print(f"solara_assets: {spec} {'installed' if done else 'present'} in {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
