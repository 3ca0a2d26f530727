"""trainlab's version, in a module of its own so that every layer can record it (env.json) without
importing the package's public API."""

__version__ = "0.1.0"
