"""The MSP's branding on client documents: ``branding.yml`` at the project root.

::

    name: Rossi Informatica srl          # shown on every page
    logo: branding/logo.svg              # optional, relative to the project (svg, png or jpeg)
    address: Via Roma 1, 20100 Milano    # optional, under the name
    contact: assistenza@rossi.example    # optional
    color: "#1f5fa8"                     # optional, the accent of headings and charts

The logo is embedded in the document (a data: URI), so the HTML stays self-contained. No file:
the documents carry "mspctl" and no logo.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mspctl.errors import BadInput
from mspctl.yamlio import load_model

BRANDING_FILE = "branding.yml"
MAX_LOGO_BYTES = 512 * 1024
_MIME = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class Branding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(default="mspctl", min_length=1, max_length=120)
    logo: str | None = None
    address: str | None = None
    contact: str | None = None
    color: str = "#1f5fa8"

    @field_validator("color")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError(f'expected a colour like "#1f5fa8", got {value[:20]!r}')
        return value


def load_branding(project_dir: Path) -> tuple[Branding, str | None]:
    """The branding and its logo as a data: URI (none without a logo)."""
    path = project_dir / BRANDING_FILE
    if not path.is_file():
        return Branding(), None
    branding = load_model(path, Branding, display=BRANDING_FILE, empty={})
    if branding.logo is None:
        return branding, None
    logo = (project_dir / branding.logo).resolve()
    mime = _MIME.get(logo.suffix.lower())
    if mime is None:
        raise BadInput("the logo must be .svg, .png or .jpg", file=BRANDING_FILE, key="logo")
    try:
        raw = logo.read_bytes()
    except OSError as exc:
        raise BadInput(
            f"cannot read the logo: {exc.strerror}", file=BRANDING_FILE, key="logo"
        ) from None
    if len(raw) > MAX_LOGO_BYTES:
        raise BadInput("the logo is larger than 512 KiB", file=BRANDING_FILE, key="logo")
    return branding, f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
