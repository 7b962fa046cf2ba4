"""`hybrid-router classifier fit FILE --out PATH`: fit a label-set head over the edge's embeddings.

FILE holds `text,label` examples (.csv with a `text,label` header, or .yaml): a kernel head for a
few examples (up to 4096 rows, hyper-parameters by leave-one-out), softmax regression for more.
With `--unlabeled TEXTS`, FILE holds label names instead (a YAML/JSON list, a label -> description
mapping, or one label per line) and the head is the labels' zero-shot prototypes self-trained on
the unlabeled in-domain texts (a CSV `text` column, or one text per line). The head is written
as an .npz with a `PATH.sha256` side file; serve it with `models.label_sets.NAME: {path: PATH}`
and `parameters.label_set: NAME`.
"""

import argparse
import json
from pathlib import Path

from edge_models.classifier import FitOptions
from edge_models.head_store import save_head
from edge_models.kernel_head import AnyHead
from edge_models.label_sets import HeadPlan, few_shot_options, fit_from_examples, fit_self_trained
from edge_models.labels import read_examples, read_label_names, read_texts
from edge_models.minilm_assets import choose_text_model
from edge_models.sessions import SessionOptions
from edge_models.text import TextEncoder

LINEAR_FLAGS = ("l2", "steps", "hash_dim")


def plan_of(args: argparse.Namespace, examples: int, labels: int) -> HeadPlan:
    """The fit plan the flags ask for; a linear-only flag with `--method auto` means linear."""
    overrides = {k: getattr(args, k) for k in LINEAR_FLAGS if getattr(args, k) is not None}
    method = args.method
    if overrides and method == "auto":
        method = "linear"
    if overrides and method == "kernel":
        raise ValueError("--l2, --steps and --hash-dim apply to --method linear only")
    linear = FitOptions(**{**few_shot_options(examples, labels).__dict__, **overrides})
    return HeadPlan(method=method, linear=linear if overrides else None)


def fit(args: argparse.Namespace, encoder: TextEncoder, text_model_sha256: str) -> AnyHead:
    """The head FILE (and maybe --unlabeled) describe."""
    if args.unlabeled is not None:
        labels = read_label_names(args.file)
        texts = read_texts(args.unlabeled)
        return fit_self_trained(encoder, labels, texts, args.rounds, text_model_sha256)
    rows = read_examples(args.file)
    plan = plan_of(args, len(rows), len({label for _, label in rows}))
    return fit_from_examples(encoder, rows, plan, text_model_sha256)


def cmd_classifier_fit(args: argparse.Namespace) -> int:
    """Fit and save a head; print what was fitted as JSON."""
    choice = choose_text_model(args.text_precision)
    encoder = TextEncoder.load(SessionOptions(intra_op_threads=args.threads), choice.path)
    head = fit(args, encoder, choice.sha256)
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
    fit_parser = classifier_sub.add_parser(
        "fit", help="fit a head from a CSV/YAML of text,label (or label names + --unlabeled)"
    )
    fit_parser.add_argument(
        "file", type=Path, help="examples: .csv (text,label) or .yaml; with --unlabeled: labels"
    )
    fit_parser.add_argument("--out", type=Path, required=True, help="where to write the head")
    fit_parser.add_argument(
        "--unlabeled",
        type=Path,
        help="unlabeled in-domain texts (.csv `text` column or one per line): self-train "
        "FILE's label names on them",
    )
    fit_parser.add_argument("--rounds", type=int, default=3, help="self-training rounds")
    fit_parser.add_argument(
        "--method",
        choices=("auto", "kernel", "linear"),
        default="auto",
        help="head kind for examples (auto: kernel up to 4096 rows, else linear)",
    )
    fit_parser.add_argument(
        "--text-precision", choices=("auto", "int8", "fp32"), default="auto", help="MiniLM to use"
    )
    fit_parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads")
    fit_parser.add_argument("--l2", type=float, help="linear head: L2 strength")
    fit_parser.add_argument("--steps", type=int, help="linear head: optimiser steps")
    fit_parser.add_argument(
        "--hash-dim", type=int, help="linear head: hashed n-gram columns (0: embeddings only)"
    )
    fit_parser.set_defaults(func=cmd_classifier_fit)
