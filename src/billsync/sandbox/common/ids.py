"""Provider-style identifiers: a prefix followed by random alphanumerics."""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits


class IdGenerator:
    """Makes ids such as ``cust_N2x8Ab31QmZt0k``; seedable so tests can predict them."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def token(self, length: int = 14) -> str:
        return "".join(self._rng.choices(_ALPHABET, k=length))

    def new(self, prefix: str, length: int = 14) -> str:
        return prefix + self.token(length)
