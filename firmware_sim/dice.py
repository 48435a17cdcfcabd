"""Random draws keyed by what they are about, so one seed gives the same outcomes whatever came before them.

A shared stream hands each draw to whichever message happens to ask first: one heartbeat more
before a command, and a different fetch fails. Here every draw is a hash of (seed, cluster id,
purpose, key), e.g. the loss of command X on its second delivery, so it depends on nothing else the
fleet did. A hash (BLAKE2b, about 1 µs) rather than a generator seeded per draw (7 µs, and 2.5 KB
while it lives): heartbeats and sensors draw at every beat of every cluster.
"""

import hashlib

_SCALE = 2.0**-64


class Dice:
    """One cluster's draws, each determined by `f"{seed}/{cid}/{purpose}/{key…}"`."""

    __slots__ = ("prefix",)

    def __init__(self, seed: int | str, cid: str):
        self.prefix = f"{seed}/{cid}"

    def units(self, count: int, purpose: str, *key) -> list[float]:
        """Return `count` numbers in [0, 1) for one purpose and key; the same arguments give the same numbers."""
        name = "/".join((self.prefix, purpose, *map(str, key))).encode()
        digest = hashlib.blake2b(name, digest_size=8 * count).digest()
        return [int.from_bytes(digest[i:i + 8], "big") * _SCALE for i in range(0, 8 * count, 8)]

    def chance(self, rate: float, purpose: str, *key) -> bool:
        """Draw whether something that happens at `rate` happens this time."""
        return rate > 0 and self.units(1, purpose, *key)[0] < rate

    def uniform(self, low: float, high: float, purpose: str, *key) -> float:
        """Draw a number between low and high."""
        return low + (high - low) * self.units(1, purpose, *key)[0]
