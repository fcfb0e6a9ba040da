"""Energy Analytics API: clients, monthly consumption and analytics behind JWT."""

__version__ = "1.0.0"
