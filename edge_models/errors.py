"""Errors raised by edge models; the router translates them into HTTP errors in one place.

EdgeModelError
├── InputError          the caller's input cannot be processed (HTTP 400)
├── ModelLoadError      a model file is missing or cannot be loaded
└── ProviderError       a requested execution provider is not available
"""


class EdgeModelError(Exception):
    """Base class for edge model errors."""


class InputError(EdgeModelError):
    """The input cannot be processed by the model; `code` is a stable machine-readable reason."""

    def __init__(self, message: str, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.code = code


class ModelLoadError(EdgeModelError):
    """A model file is missing, corrupt, or does not match its recorded checksum."""


class ProviderError(EdgeModelError):
    """An execution provider was requested that onnxruntime does not offer here."""
