"""mspctl: service tiers of a managed-service provider, applied as Ansible policy."""

__version__ = "0.2.0"
