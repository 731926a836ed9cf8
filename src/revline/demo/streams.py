"""Common random numbers: one independent random stream per (seed, purpose, channel, block).

Why: the counterfactual truth re-runs the company with one channel switched off. If all draws
came from one generator, removing a channel's touches would shift every later draw and the
"incremental" numbers would be mostly noise. Keying each decision's stream by what it decides
means a switched-off channel changes nothing but the consequences of its own missing touches.
"""

from __future__ import annotations

import zlib

import numpy as np


def _code(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Factory of numpy Generators keyed by purpose; same key -> same numbers, always."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def rng(self, purpose: str, channel: str = "", block: int = 0) -> np.random.Generator:
        ss = np.random.SeedSequence(entropy=self.seed, spawn_key=(_code(purpose), _code(channel), int(block)))
        return np.random.Generator(np.random.PCG64(ss))
