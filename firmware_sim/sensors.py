"""Made-up but plausible readings for a pole: signal strength and enclosure temperature."""

import random


class Sensors:
    """Drift a cluster's rssi and temperature a little with every reading."""

    __slots__ = ("rng", "rssi_dbm", "temp_c")

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.rssi_dbm = rng.uniform(-95.0, -60.0)
        self.temp_c = rng.uniform(28.0, 40.0)

    def read(self, playing: bool) -> tuple[int, float]:
        """Return (rssi_dbm, temp_c) after a small random walk; an amplifier at work runs warmer."""
        self.rssi_dbm = min(-50.0, max(-110.0, self.rssi_dbm + self.rng.uniform(-1.5, 1.5)))
        target = 45.0 if playing else 33.0
        self.temp_c += (target - self.temp_c) * 0.1 + self.rng.uniform(-0.3, 0.3)
        return round(self.rssi_dbm), round(self.temp_c, 1)
