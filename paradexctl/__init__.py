"""paradexctl: a command-line toolkit for the Paradex perpetuals exchange."""

__version__ = "0.1.0"
