"""Simulated sensors (the DHT22 temperature/humidity sensor of the wasmiot modules)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SimulatedDht:
    """A DHT sensor that reads the configured values (change them at run time if needed)."""

    temperature: float = 21.5
    humidity: float = 45.0

    def read_temperature(self) -> float:
        """Degrees Celsius."""
        return self.temperature

    def read_humidity(self) -> float:
        """Relative humidity in percent."""
        return self.humidity
