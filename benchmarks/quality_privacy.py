"""Quality of PII redaction and of the semantic cache's verification, with their latency.

`python -m benchmarks.quality_privacy [--out DIR] [--quick]` writes
`quality_privacy-<time>.json` and `.md` to benchmarks/results/:

- PII: recall per kind and per language on the generated corpus, false positives on the
  clean corpus, restore in answers and in streams, detection+redaction latency per 1 kB
  (p50/p99, CPU time) and two hostile inputs (64 × 100k chars of IPv4s, of phone numbers).
- Semantic cache: the stress set per category with and without verification at the default
  threshold (real MiniLM), and the verification step's added latency per lookup.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data.pii_corpus import VALIDATED_KINDS, clean_corpus, pii_corpus
from benchmarks.data.semantic_pairs import stress_pairs
from benchmarks.results import DEFAULT_OUT, envelope, timestamp, write_results
from router.privacy import RedactionMap, Redactor, StreamRestorer
from router.semantic_cache import DEFAULT_THRESHOLD
from router.semantic_guard import meaning_changed, parse


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def pii_quality(redactor: Redactor) -> dict[str, Any]:
    """Recall per kind and language, false positives, restore in answers and streams."""
    total: Counter[str] = Counter()
    found: Counter[str] = Counter()
    by_lang: Counter[str] = Counter()
    by_lang_found: Counter[str] = Counter()
    restored = streamed = 0
    rng = random.Random(3)
    corpus = pii_corpus()
    for sample in corpus:
        mapping = RedactionMap()
        redacted = redactor.redact(sample.text, mapping)
        for kind, value in sample.values:
            total[kind] += 1
            found[kind] += value not in redacted
            by_lang[sample.lang] += 1
            by_lang_found[sample.lang] += value not in redacted
        restored += redactor.restore(redacted, mapping) == sample.text
        restorer, out, pos = StreamRestorer(redactor, mapping), [], 0
        while pos < len(redacted):
            step = rng.randint(1, 9)
            out.append(restorer.feed(redacted[pos : pos + step]))
            pos += step
        streamed += "".join(out) + restorer.finish() == sample.text
    clean = clean_corpus()
    flagged = [t for t in clean if redactor.find(t)]
    return {
        "texts": len(corpus),
        "clean_texts": len(clean),
        "recall": {k: round(found[k] / total[k], 4) for k in sorted(total)},
        "values": dict(sorted(total.items())),
        "validated_kinds": list(VALIDATED_KINDS),
        "min_recall_validated": round(min(found[k] / total[k] for k in VALIDATED_KINDS), 4),
        "recall_by_language": {k: round(by_lang_found[k] / by_lang[k], 4) for k in sorted(by_lang)},
        "false_positive_rate": round(len(flagged) / len(clean), 4),
        "false_positive_examples": flagged[:5],
        "restored_answers": f"{restored}/{len(corpus)}",
        "restored_streams": f"{streamed}/{len(corpus)}",
    }


def pii_latency(redactor: Redactor, repeats: int) -> dict[str, Any]:
    """CPU ms per 1 kB chunk of corpus text (find + redact), and hostile 64 × 100k inputs."""
    texts = [s.text for s in pii_corpus()] + clean_corpus()
    random.Random(5).shuffle(texts)
    chunks, current = [], ""
    for text in texts:
        current += text + " "
        if len(current) >= 1000:
            chunks.append(current[:1000])
            current = ""
    samples = []
    for _ in range(repeats):
        for chunk in chunks:
            start = time.process_time()
            redactor.redact(chunk, RedactionMap())
            samples.append((time.process_time() - start) * 1000)
    rng = random.Random(9)
    hostile = {}
    for name, unit in {
        "ipv4": lambda: ".".join(str(rng.randint(0, 255)) for _ in range(4)),
        "phone": lambda: f"+1 415 555 {rng.randint(0, 9999):04d}",
    }.items():
        inputs = [" ".join(unit() for _ in range(8000))[:100_000] for _ in range(64)]
        start = time.process_time()
        count = sum(len(redactor.find(text)) for text in inputs)
        hostile[f"64x100k_{name}"] = {
            "cpu_s": round(time.process_time() - start, 3),
            "values_found": count,
        }
    return {
        "chunks": len(chunks),
        "per_1kB_ms": {
            "p50": round(_pct(samples, 50), 4),
            "p99": round(_pct(samples, 99), 4),
            "max": round(max(samples), 4),
        },
        "hostile": hostile,
    }


def semantic_quality(threshold: float) -> dict[str, Any]:
    """The stress set with and without verification, and the verification's latency."""
    from edge_models.sessions import SessionOptions
    from edge_models.text import TextEncoder

    pairs = stress_pairs()
    encoder = TextEncoder.load(SessionOptions())
    texts = sorted({t for p in pairs for t in (p.a, p.b)})
    vectors: dict[str, np.ndarray] = {}
    embed_ms: list[float] = []
    for i in range(0, len(texts), 32):
        chunk = texts[i : i + 32]
        start = time.perf_counter()
        rows = encoder.embed(chunk)
        embed_ms.append((time.perf_counter() - start) * 1000 / len(chunk))
        for text, row in zip(chunk, rows, strict=True):
            vectors[text] = np.asarray(row) / np.linalg.norm(row)
    rows: dict[str, dict[str, int]] = {}
    verify_us: list[float] = []
    for pair in pairs:
        row = rows.setdefault(pair.category, {"pairs": 0, "raw_hits": 0, "hits": 0})
        row["pairs"] += 1
        near = float(vectors[pair.a] @ vectors[pair.b]) >= threshold and not pair.other_tenant
        parse.cache_clear()
        start = time.perf_counter()
        changed = meaning_changed(pair.a, pair.b)
        verify_us.append((time.perf_counter() - start) * 1e6)
        row["raw_hits"] += near
        row["hits"] += near and changed is None
    para = rows["paraphrase"]
    wrong = sum(r["hits"] for c, r in rows.items() if c != "paraphrase")
    raw_wrong = sum(r["raw_hits"] for c, r in rows.items() if c != "paraphrase")
    return {
        "threshold": threshold,
        "pairs": len(pairs),
        "languages": sorted({p.lang for p in pairs}),
        "paraphrase_recall": round(para["hits"] / para["pairs"], 4),
        "paraphrase_recall_without_verification": round(para["raw_hits"] / para["pairs"], 4),
        "wrong_meaning_hits": wrong,
        "wrong_meaning_hits_without_verification": raw_wrong,
        "per_category": rows,
        "verification_us": {
            "p50": round(_pct(verify_us, 50), 1),
            "p99": round(_pct(verify_us, 99), 1),
        },
        "embedding_ms_per_text_batched": round(float(np.mean(embed_ms)), 3),
    }


def markdown(doc: dict[str, Any]) -> str:
    """The results as markdown tables."""
    pii, lat, sem = doc["pii"], doc["pii_latency"], doc["semantic"]
    lines = ["## PII detection", "", "| kind | values | recall |", "|---|---|---|"]
    for kind, recall in pii["recall"].items():
        lines.append(f"| {kind} | {pii['values'][kind]} | {recall:.3f} |")
    lines += [
        "",
        f"False positives on {pii['clean_texts']} clean texts: {pii['false_positive_rate']:.2%}. "
        f"Restored answers {pii['restored_answers']}, streams {pii['restored_streams']}.",
        f"Recall by language: {pii['recall_by_language']}.",
        "",
        f"Detection+redaction per 1 kB (CPU): p50 {lat['per_1kB_ms']['p50']} ms, "
        f"p99 {lat['per_1kB_ms']['p99']} ms.",
        "",
        "| hostile input | CPU s | values found |",
        "|---|---|---|",
    ]
    for name, row in lat["hostile"].items():
        lines.append(f"| {name} | {row['cpu_s']} | {row['values_found']} |")
    lines += [
        "",
        f"## Semantic cache (threshold {sem['threshold']}, {sem['pairs']} pairs, "
        f"{sem['languages']})",
        "",
        "| category | pairs | hits without verification | hits with verification |",
        "|---|---|---|---|",
    ]
    for category, row in sem["per_category"].items():
        lines.append(f"| {category} | {row['pairs']} | {row['raw_hits']} | {row['hits']} |")
    lines += [
        "",
        f"Paraphrase recall {sem['paraphrase_recall']} (without verification "
        f"{sem['paraphrase_recall_without_verification']}); wrong-meaning hits "
        f"{sem['wrong_meaning_hits']} (without {sem['wrong_meaning_hits_without_verification']}).",
        f"Verification adds p50 {sem['verification_us']['p50']} µs, p99 "
        f"{sem['verification_us']['p99']} µs per checked candidate (an embedding costs "
        f"{sem['embedding_ms_per_text_batched']} ms per text, batched).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    """Run both evaluations and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="one latency pass instead of five")
    args = parser.parse_args(argv)
    redactor = Redactor(memo_max_chars=0)  # measure scans, not the memo
    doc = envelope(
        "quality_privacy",
        [sys.executable, "-m", "benchmarks.quality_privacy", *(argv or sys.argv[1:])],
        {"threshold": DEFAULT_THRESHOLD, "strict": True},
    )
    doc["pii"] = pii_quality(redactor)
    doc["pii_latency"] = pii_latency(redactor, 1 if args.quick else 5)
    doc["semantic"] = semantic_quality(DEFAULT_THRESHOLD)
    stem = f"quality_privacy-{timestamp()}"
    path = write_results(args.out, stem, doc)
    (args.out / f"{stem}.md").write_text(markdown(doc))
    print(markdown(doc))
    return path


if __name__ == "__main__":
    main()
