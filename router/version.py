"""The installed package's version, for `--version` and the status page."""

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed hybrid-router version, or 'unknown' from a bare checkout."""
    try:
        return version("hybrid-router")
    except PackageNotFoundError:
        return "unknown"
