"""The semantic cache's verification step: each kind of meaning change, and paraphrases."""

from __future__ import annotations

import pytest

from router.semantic_guard import meaning_changed


@pytest.mark.parametrize(
    ("cached", "asked", "reason"),
    [
        (
            "Is it safe to take ibuprofen with alcohol?",
            "Is it unsafe to take ibuprofen with alcohol?",
            "antonym",
        ),
        ("Is it safe to take ibuprofen?", "Is it not safe to take ibuprofen?", "negation"),
        ("Can I pay by card?", "Why can't I pay by card?", "negation"),
        ("Ist es sicher?", "Ist es nicht sicher?", "negation"),
        ("How do I enable dark mode?", "How do I disable dark mode?", "antonym"),
        ("Soll ich Aktien kaufen?", "Soll ich Aktien verkaufen?", "antonym"),
        ("Show me flights from Paris to London", "Show me flights from London to Paris", "order"),
        ("从巴黎到伦敦的航班", "从伦敦到巴黎的航班", "order"),
        ("Convert 100 USD to EUR", "Convert 100 EUR to USD", "currency"),
        ("What is 17×23?", "What is 17×24?", "number"),
        ("What is two plus three?", "What is two plus four?", "number"),
        ("Convert 10 km to miles", "Convert 10 miles to km", "unit"),
        ("Convert Celsius to Fahrenheit", "Convert Fahrenheit to Celsius", "unit"),
        ("Weather in Berlin today?", "Weather in Berlin tomorrow?", "date"),
        ("What is the capital of France?", "What is the capital of Spain?", "entity"),
        ("How do I reset my password?", "Wie setze ich mein Passwort zurück?", "language"),
        ("Does the dog chase the cat?", "Does the cat chase the dog?", "order"),
    ],
)
def test_meaning_changes_are_named(cached: str, asked: str, reason: str) -> None:
    assert meaning_changed(cached, asked) == reason


@pytest.mark.parametrize(
    ("cached", "asked"),
    [
        ("How do I reset my password?", "How can I reset my password?"),
        ("What is the capital of France?", "Which city is the capital of France?"),
        ("Convert 100 USD to EUR", "How much is 100 USD in EUR?"),
        ("Wie kündige ich mein Abo?", "Wie kann ich mein Abo kündigen?"),
        ("What are your opening hours?", "When are you open?"),
        ("Same text.", "Same text."),
    ],
)
def test_paraphrases_pass(cached: str, asked: str) -> None:
    assert meaning_changed(cached, asked) is None
