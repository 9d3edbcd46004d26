"""How option types read in `--help`.

Typer 0.29 labels every option with its Python type, so flags read `--json <bool>` (a flag
takes no value) and repeatable options `-c <list[str]>` (each use takes one value). Typer
has no setting for this. `metavar=` on an option does reach its rich help (`metavar=""`
hides a flag's label), but the `--help` option Typer adds to every command takes none and
still reads `--help <bool>`; so the label is adjusted here once, for every command, before
any help is rendered, rather than by a metavar on each option plus this for `--help`
(checked against Typer 0.29.3; tests/cli/test_help.py fails if either comes back).
"""

from __future__ import annotations

import re

from typer import _click
from typer.core import TyperOption

_LIST = re.compile(r"<list\[(.+)\]>")
_typer_label = TyperOption.display_type_rich


def _label(option: TyperOption, ctx: _click.Context) -> str | None:
    if option.is_flag:
        return None
    if option.metavar:
        return option.metavar
    label = _typer_label(option, ctx)
    if label is None:
        return None
    return _LIST.sub(r"<\1>", label)


def install() -> None:
    TyperOption.display_type_rich = _label  # type: ignore[method-assign,assignment]
