"""A Togai account name as Razorpay accepts a customer name.

Razorpay takes 3-50 characters of letters, digits, spaces and `. ' / @ ( )` and answers
400 "The name format is invalid." to anything else (razorpay-api.md §3.2), so "Acme, Inc.",
"Tata-Steel & Co" or "José Müller", all ordinary Togai names, would sync against a lax
sandbox and fail live. The name is therefore derived, deterministically (the same Togai name
always gives the same Razorpay name, on create and on update), by these steps:

1. compatibility-decompose (NFKD) and drop the accents: "José Müller" → "Jose Muller";
   letters that do not decompose are spelled out ("ß" → "ss", "Æ" → "AE", "Ł" → "L");
2. "&" becomes " and ": "Tata-Steel & Co" → "Tata Steel and Co";
3. every other character outside the alphabet (commas, hyphens, underscores, "+", other
   scripts, emoji, control characters) becomes a space; runs of spaces become one, and
   the ends are trimmed: "Acme, Inc." → "Acme Inc.", "Foo_Bar Ltd" → "Foo Bar Ltd";
4. more than 50 characters are cut to 50 (and trimmed again);
5. fewer than 3 left (a two-letter name, or one in another script that step 3 emptied):
   " (Togai account)" is appended, so "Al" → "Al (Togai account)" and "東京" →
   "(Togai account)".

The Togai name itself is kept in the customer's notes (`togai_account_name`) whenever it
differs, so nothing the user typed is lost.
"""

from __future__ import annotations

import re
import unicodedata

MIN_LENGTH = 3
MAX_LENGTH = 50
#: Appended when fewer than MIN_LENGTH characters survive.
SHORT_SUFFIX = "(Togai account)"

#: Razorpay's customer-name alphabet (razorpay-api.md §3.2).
ACCEPTED = re.compile(rf"[A-Za-z0-9 .'/@()]{{{MIN_LENGTH},{MAX_LENGTH}}}")

# Latin letters NFKD leaves whole (no base letter + combining mark to split them into).
_SPELLED = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ø": "O",
        "ø": "o",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Þ": "Th",
        "þ": "th",
        "Ł": "L",
        "ł": "l",
        "ı": "i",
        "Ħ": "H",
        "ħ": "h",
        "&": " and ",
        # Typographic apostrophes are the apostrophe Razorpay accepts.
        "\u2018": "'",
        "\u2019": "'",
    }
)
_OUTSIDE = re.compile(r"[^A-Za-z0-9.'/@() ]+")
_SPACES = re.compile(r" {2,}")


def customer_name(togai_name: str) -> str:
    """The Razorpay customer name for `togai_name`; always matches ACCEPTED."""
    decomposed = unicodedata.normalize("NFKD", togai_name.translate(_SPELLED))
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # NFKD can produce characters _SPELLED handles (e.g. a full-width ＆): translate again.
    cleaned = _SPACES.sub(" ", _OUTSIDE.sub(" ", letters.translate(_SPELLED))).strip()
    cleaned = cleaned[:MAX_LENGTH].rstrip()
    if len(cleaned) < MIN_LENGTH:
        cleaned = f"{cleaned} {SHORT_SUFFIX}".strip()
    return cleaned
