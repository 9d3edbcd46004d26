"""Flow examples in the documentation, read from the Markdown itself (issue #12, item 3)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)


def flow_examples() -> list[tuple[str, dict[str, Any]]]:
    """(where, definition) for every ```json block in README.md and docs/ that is a flow."""
    found: list[tuple[str, dict[str, Any]]] = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, match in enumerate(_JSON_BLOCK.finditer(page.read_text()), start=1):
            try:
                data = json.loads(match.group(1))
            except json.JSONDecodeError:
                continue  # an abbreviated payload ({...}) shown for its shape
            if isinstance(data, dict) and "trigger" in data and "steps" in data:
                found.append((f"{page.name} block {number}", data))
    return found
