"""cloudbus: an IaaS control plane built the way ZStack is built."""

__version__ = "0.1.0"
