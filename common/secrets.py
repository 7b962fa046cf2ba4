"""Secrets read from an env value or a file, never from code."""

from pathlib import Path

from pydantic import SecretStr


def read_secret(value: SecretStr | None, file: Path | None) -> str | None:
    """A secret from its env value or from a file path (file wins when both are set)."""
    if file is not None:
        return file.read_text().strip()
    return value.get_secret_value() if value is not None else None
