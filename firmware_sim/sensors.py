"""Made-up but plausible readings for a pole: signal strength and enclosure temperature."""

from firmware_sim.dice import Dice


class Sensors:
    """Drift a cluster's rssi and temperature a little with every reading, each drawn under its own key."""

    __slots__ = ("dice", "rssi_dbm", "temp_c")

    def __init__(self, dice: Dice):
        self.dice = dice
        rssi, temp = dice.units(2, "sensors")
        self.rssi_dbm = -95.0 + 35.0 * rssi
        self.temp_c = 28.0 + 12.0 * temp

    def read(self, playing: bool, *key) -> tuple[int, float]:
        """Return (rssi_dbm, temp_c) after a small random walk; an amplifier at work runs warmer.

        `key` names the reading (the boot and heartbeat seq), so a seed gives the same readings.
        """
        rssi, temp = self.dice.units(2, "sensors", *key)
        self.rssi_dbm = min(-50.0, max(-110.0, self.rssi_dbm + 3.0 * rssi - 1.5))
        target = 45.0 if playing else 33.0
        self.temp_c += (target - self.temp_c) * 0.1 + 0.6 * temp - 0.3
        return round(self.rssi_dbm), round(self.temp_c, 1)
