"""Token-level mutations for fuzzing the parsers: deletions, duplications, swaps,
replacements and truncations of a valid input."""

from __future__ import annotations

import random
import re


def mutate(text: str, rng: random.Random, token: re.Pattern[str]) -> str:
    """One to three random edits of ``text``'s tokens, keeping the whitespace between them."""
    tokens = token.findall(text)
    gaps = token.split(text)
    for _ in range(rng.randint(1, 3)):
        if not tokens:
            break
        i, j = rng.randrange(len(tokens)), rng.randrange(len(tokens))
        action = rng.choice(["delete", "duplicate", "swap", "truncate", "replace"])
        if action == "delete":
            tokens[i] = ""
        elif action == "duplicate":
            tokens[i] = tokens[i] + " " + tokens[i]
        elif action == "swap":
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif action == "replace":
            tokens[i] = tokens[j]
        else:
            tokens, gaps = tokens[:i], gaps[:i + 1]
    return "".join(g + t for g, t in zip(gaps, tokens + [""]))
