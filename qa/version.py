"""The version of edition-qa (recorded in index manifests)."""

__version__ = "0.1.0"
