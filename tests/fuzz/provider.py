"""Turns fuzzer bytes into structured values; works with or without atheris installed.

Harnesses decode their input with `Draw` so that atheris's byte mutations become
mutations of JSON shapes, RIFF fields and image bytes, and the pytest smoke test can
drive the same harnesses from plain random bytes.
"""

import inspect
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Draw:
    """Consumes a byte string front to back; past the end every draw is zero/empty."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def remaining(self) -> int:
        """Bytes not consumed yet."""
        return len(self._data) - self._pos

    def byte(self) -> int:
        """One byte (0 when exhausted)."""
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def int(self, size: int) -> int:
        """An unsigned little-endian integer of `size` bytes."""
        return int.from_bytes(bytes(self.byte() for _ in range(size)), "little")

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        return self.int(2) % n if n > 1 else 0

    def pick(self, options: Sequence[T]) -> T:
        """One of `options`."""
        return options[self.below(len(options))]

    def bytes(self, max_len: int) -> bytes:
        """Up to `max_len` raw bytes."""
        n = min(self.below(max_len + 1), self.remaining())
        self._pos += n
        return self._data[self._pos - n : self._pos]

    def rest(self) -> bytes:
        """Everything left."""
        out = self._data[self._pos :]
        self._pos = len(self._data)
        return out

    def text(self, max_len: int, alphabet: Sequence[str] = ()) -> str:
        """A string from `alphabet` fragments, or decoded bytes (lone surrogates included)."""
        if alphabet:
            return "".join(self.pick(alphabet) for _ in range(self.below(max_len + 1)))
        raw = self.bytes(max_len * 2)
        return raw[: len(raw) // 2 * 2].decode("utf-16-le", "surrogatepass")


def mutate(seed: bytes, draw: Draw, edits: int) -> bytes:
    """`seed` with up to `edits` byte overwrites, inserts, deletes or truncations from `draw`."""
    out = bytearray(seed)
    for _ in range(draw.below(edits + 1)):
        op = draw.below(4)
        at = draw.below(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] = draw.byte()
        elif op == 1:
            out[at:at] = draw.bytes(8)
        elif op == 2:
            del out[at : at + 1 + draw.below(8)]
        else:
            del out[at:]
    return bytes(out)


PROJECT_PACKAGES = ("common", "router", "edge_models", "central_client", "central_service")


def instrument_project(instrument: Callable[[Callable[..., object]], object]) -> int:
    """Coverage-instrument the project's own functions and methods (not numpy, pydantic...).

    `atheris.instrument_all()` instruments every loaded module, which takes minutes here;
    the project's code is what the harnesses explore. Returns how many were instrumented.
    """
    count = 0
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        for value in list(vars(module).values()):
            members = vars(value).values() if inspect.isclass(value) else (value,)
            for member in members:
                function = getattr(member, "__func__", member)
                if inspect.isfunction(function) and function.__module__ == name:
                    instrument(function)
                    count += 1
    return count


def run(test_one_input: Callable[[bytes], object], seeds: Sequence[bytes]) -> None:
    """Fuzz with atheris (libFuzzer flags from argv); `seeds` start a corpus unless one is given."""
    import atheris  # only the fuzz entry points need it

    argv = list(sys.argv)
    if not any(Path(arg).is_dir() for arg in argv[1:] if not arg.startswith("-")):
        corpus = Path(tempfile.mkdtemp(prefix="fuzz-corpus-"))
        for i, seed in enumerate(seeds):
            (corpus / f"seed-{i}").write_bytes(seed)
        argv.append(str(corpus))
    instrument_project(atheris.instrument_func)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
