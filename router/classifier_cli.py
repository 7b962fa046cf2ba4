"""`hybrid-router classifier fit FILE --out PATH`: fit a label-set head over the edge's embeddings.

FILE holds `text,label` examples (.csv with a `text,label` header, or .yaml). The head (numpy
softmax regression, temperature-calibrated) is written as an .npz with a `PATH.sha256` side file;
serve it with `models.label_sets.NAME: {path: PATH}` and `parameters.label_set: NAME`.
"""

import argparse
import json
from pathlib import Path

from edge_models.classifier import FitOptions
from edge_models.head_store import save_head
from edge_models.label_sets import few_shot_options, fit_from_examples
from edge_models.labels import read_examples
from edge_models.minilm_assets import choose_text_model
from edge_models.sessions import SessionOptions
from edge_models.text import TextEncoder


def cmd_classifier_fit(args: argparse.Namespace) -> int:
    """Fit and save a head; print what was fitted as JSON."""
    rows = read_examples(args.file)
    labels = len({label for _, label in rows})
    options = few_shot_options(len(rows), labels)
    overrides = {
        k: getattr(args, k) for k in ("l2", "steps", "hash_dim") if getattr(args, k) is not None
    }
    if overrides:
        options = FitOptions(**{**options.__dict__, **overrides})
    choice = choose_text_model(args.text_precision)
    encoder = TextEncoder.load(SessionOptions(intra_op_threads=args.threads), choice.path)
    head = fit_from_examples(encoder, rows, options, choice.sha256)
    digest = save_head(head, args.out)
    summary = {
        "out": str(args.out),
        "sha256": digest,
        "labels": len(head.labels),
        "temperature": round(head.temperature, 4),
        **{k: v for k, v in head.metadata.items() if k != "text_model_sha256"},
        "text_model": choice.describe(),
    }
    print(json.dumps(summary, indent=2))
    return 0


def add_subcommand(sub: argparse._SubParsersAction) -> None:
    """Add `classifier fit` to the CLI's subcommands."""
    parser = sub.add_parser("classifier", help="label sets defined by examples")
    classifier_sub = parser.add_subparsers(dest="classifier_command", required=True)
    fit = classifier_sub.add_parser("fit", help="fit a head from a CSV/YAML of text,label")
    fit.add_argument("file", type=Path, help="examples: .csv (text,label) or .yaml")
    fit.add_argument("--out", type=Path, required=True, help="where to write the head (.npz)")
    fit.add_argument(
        "--text-precision", choices=("auto", "int8", "fp32"), default="auto", help="MiniLM to use"
    )
    fit.add_argument("--threads", type=int, default=1, help="ORT intra-op threads")
    fit.add_argument("--l2", type=float, help="L2 strength (default by data size)")
    fit.add_argument("--steps", type=int, help="optimiser steps")
    fit.add_argument("--hash-dim", type=int, help="hashed n-gram columns (0: embeddings only)")
    fit.set_defaults(func=cmd_classifier_fit)
