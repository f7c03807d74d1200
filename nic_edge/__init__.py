"""nic_edge: offline, citation-first manual assistant for Raspberry Pi-class devices.

Importing the package is deliberately cheap: no numpy, lmdb, paho or TFLite runtime is
imported here (a test checks it). Heavy parts load lazily where they are used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
