"""Deterministic local stand-in for the OpenAI and Anthropic admin billing APIs.

Serves byte-compatible Usage/Costs responses for a seeded synthetic organisation and exposes the
ground truth (daily totals, incidents, prices) so pipeline tests can reconcile to the cent.
"""

from ingestion.simulator.config import SimConfig
from ingestion.simulator.org import SyntheticOrg
from ingestion.simulator.server import Faults
from ingestion.simulator.sim import Simulator

__all__ = ["Faults", "SimConfig", "Simulator", "SyntheticOrg"]
