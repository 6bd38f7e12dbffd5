"""Scaffolding of new client folders from the templates in ``mspctl/templates/client``."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates" / "client"


def write_client(directory: Path, *, slug: str, tier: str, name: str, timezone: str) -> None:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - renders YAML, not HTML
    )
    today = dt.date.today()
    context = {
        "slug": slug,
        "tier": tier,
        "name": name,
        "timezone": timezone,
        "today": today.isoformat(),
        "trial_end": (today + dt.timedelta(days=60)).isoformat(),
    }
    (directory / "group_vars").mkdir(parents=True)
    (directory / "host_vars").mkdir()
    for template in sorted(TEMPLATES.glob("*.j2")):
        target = directory / template.name.removesuffix(".j2")
        target.write_text(env.get_template(template.name).render(context), encoding="utf-8")
    (directory / "group_vars" / ".gitkeep").touch()
    (directory / "host_vars" / ".gitkeep").touch()


def write_client_atomically(
    directory: Path, *, slug: str, tier: str, name: str, timezone: str
) -> None:
    """Write the client into a temporary sibling folder, then rename it into place: the
    folder appears whole or not at all (any failure removes the temporary one)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{slug}.", suffix=".new", dir=directory.parent))
    try:
        content = staging / slug
        write_client(content, slug=slug, tier=tier, name=name, timezone=timezone)
        content.rename(directory)  # the caller checked it is absent
    finally:
        shutil.rmtree(staging, ignore_errors=True)
