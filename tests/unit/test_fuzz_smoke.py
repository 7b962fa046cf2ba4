"""Each fuzz harness on a few hundred random and mutated inputs, without atheris (cheap CI run)."""

import random
from types import ModuleType

import pytest

from tests.fuzz import fuzz_image, fuzz_redaction, fuzz_request, fuzz_sse, fuzz_wav

RUNS = 300
HARNESSES = {
    "request": (fuzz_request, {"accepted", "rejected", "malformed"}),
    "redaction": (fuzz_redaction, {"redacted", "clean"}),
    "wav": (fuzz_wav, {"decoded", "rejected"}),
    "image": (fuzz_image, {"decoded", "rejected"}),
    "sse": (fuzz_sse, {"parsed", "rejected"}),
}


def smoke_inputs(seeds: list[bytes], rng: random.Random) -> list[bytes]:
    """The seeds, random byte strings, and seeds with random edits."""
    out = list(seeds)
    while len(out) < RUNS:
        if len(out) % 3 == 0:
            out.append(rng.randbytes(rng.randint(0, 600)))
            continue
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(data) + 1)
            op = rng.randrange(3)
            if op == 0 and data:
                data[min(at, len(data) - 1)] = rng.randrange(256)
            elif op == 1:
                data[at:at] = rng.randbytes(rng.randint(1, 8))
            else:
                del data[at : at + rng.randint(1, 16)]
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_harness_holds_on_random_and_mutated_inputs(name: str) -> None:
    harness, expected = HARNESSES[name]
    assert isinstance(harness, ModuleType)
    outcomes = {
        harness.TestOneInput(data)
        for data in smoke_inputs(harness.seed_inputs(), random.Random(name))
    }
    assert outcomes == expected  # every path is reached, so the harness is not vacuous
