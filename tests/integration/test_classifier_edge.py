"""Classification with the real MiniLM: fitted label sets, big sets, long texts, strictness."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import yaml

from edge_models.base import EdgeInput
from edge_models.classifier import FitOptions, Head
from edge_models.errors import ModelLoadError
from edge_models.head_store import checksum_path, load_head, save_head
from edge_models.kernel_head import KernelHead
from edge_models.label_sets import HeadPlan, LabelSetFile, fit_from_examples, resolve_label_set
from edge_models.minilm_assets import choose_text_model
from edge_models.sessions import SessionOptions
from edge_models.text import TextEncoder, ZeroShotClassifier
from router.app import create_app
from router.cli import main as cli_main
from router.keys import EDGE
from router.settings import Settings
from tests.servers import edge_settings, serve

INTENTS = Path(__file__).parent.parent / "data" / "intents" / "support_intents.yaml"
GEN = "/v3/models/auto/generate"
QUICK = HeadPlan(method="linear", linear=FitOptions(l2=1e-2, steps=150, learning_rate=0.05))


def intents() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The project-written intent set split in two: (fit rows, held-out rows)."""
    data = yaml.safe_load(INTENTS.read_text())
    rows = [(t, label) for label, texts in data.items() for t in texts]
    return rows[0::3], [r for i, r in enumerate(rows) if i % 3]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(SessionOptions())


@pytest.fixture(scope="module")
def head_file(encoder: TextEncoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A head fitted on a third of the intent set (the default plan: a kernel head), saved."""
    fit_rows, _ = intents()
    head = fit_from_examples(encoder, fit_rows, HeadPlan(), choose_text_model().sha256)
    assert isinstance(head, KernelHead)
    path = tmp_path_factory.mktemp("heads") / "support.npz"
    save_head(head, path)
    return path


def test_fitted_head_round_trips_and_classifies_held_out_text(
    encoder: TextEncoder, head_file: Path
) -> None:
    label_set = resolve_label_set(LabelSetFile(head_file), encoder, choose_text_model().sha256)
    assert label_set.head is not None and label_set.cascade_threshold is not None
    classifier = ZeroShotClassifier(encoder, {"support": label_set})
    _, held_out = intents()
    items = [
        classifier.prepare(EdgeInput(text=t, label_set="support", top_k=7)) for t, _ in held_out
    ]
    outputs = classifier.run_batch(items)
    right = [
        o["labels"][0]["label"] == gold for o, (_, gold) in zip(outputs, held_out, strict=True)
    ]
    assert np.mean(right) >= 0.8, np.mean(right)
    assert all(abs(sum(x["score"] for x in o["labels"]) - 1) < 0.05 for o in outputs)
    assert classifier.cascade_threshold("support") == label_set.cascade_threshold
    assert classifier.cascade_threshold(None) is None


def test_tampered_head_is_refused_at_load(tmp_path: Path, head_file: Path) -> None:
    copy = tmp_path / "support.npz"
    copy.write_bytes(head_file.read_bytes())
    checksum_path(copy).write_text("f" * 64 + "  support.npz\n")
    with pytest.raises(ModelLoadError, match="refusing"):
        load_head(copy)


def test_head_from_another_text_model_is_refused(encoder: TextEncoder, head_file: Path) -> None:
    with pytest.raises(ModelLoadError, match="refit"):
        resolve_label_set(LabelSetFile(head_file), encoder, "0" * 64)


def test_example_file_in_config_is_fitted_at_startup(encoder: TextEncoder, tmp_path: Path) -> None:
    fit_rows, _ = intents()
    csv_file = tmp_path / "support.csv"
    csv_file.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in fit_rows))
    label_set = resolve_label_set(LabelSetFile(csv_file), encoder, "")
    assert label_set.head is not None and set(label_set.head.labels) == {r[1] for r in fit_rows}


def test_label_name_zero_shot_uses_templates_and_caches(encoder: TextEncoder) -> None:
    classifier = ZeroShotClassifier(encoder, {})
    labels = tuple(yaml.safe_load(INTENTS.read_text()))
    item = classifier.prepare(EdgeInput(text="Where is my parcel? It never came.", labels=labels))
    assert classifier.run_batch([item])[0]["labels"][0]["label"] == "order_tracking"
    assert len(classifier._cache) == len(labels)


def test_long_text_is_chunked_and_flagged(encoder: TextEncoder) -> None:
    classifier = ZeroShotClassifier(encoder, {}, max_windows=4)
    text = "The parcel with my order has not arrived and tracking shows nothing. " * 120
    item = classifier.prepare(EdgeInput(text=text, labels=("order tracking", "app bug")))
    output = classifier.run_batch([item])[0]
    assert output["chunks"] == 4 and output["truncated"] is True
    assert output["labels"][0]["label"] == "order tracking"


@pytest.fixture(scope="module")
async def text_edge(head_file: Path) -> AsyncIterator[str]:
    """An edge node with the text models and the fitted head as label set `support`."""
    settings = edge_settings(
        models={
            "tasks": ["embed", "classify"],
            "label_sets": {"support": {"path": str(head_file)}},
        },
        routing={"warmup_probe": False, "max_edge_text_chars": 4000},
    )
    app = create_app(settings)
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 300)
        yield url


async def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    async with aiohttp.ClientSession() as http, http.post(url + GEN, json=body) as response:
        return response.status, await response.json(), response.headers.get("X-Route", "")


async def test_256_labels_in_a_request(text_edge: str) -> None:
    labels = [f"topic number {i}" for i in range(255)] + ["weather"]
    status, body, route = await post(
        text_edge, {"inputs": {"text": "Snow and wind tonight"}, "parameters": {"labels": labels}}
    )
    assert status == 200, body
    assert route == "edge" and len(body["outputs"][0]["labels"]) == 5


async def test_configured_head_serves_by_name(text_edge: str) -> None:
    status, body, _ = await post(
        text_edge,
        {
            "inputs": {"text": "I can't log in, the reset mail never comes"},
            "parameters": {"label_set": "support"},
        },
    )
    assert status == 200, body
    assert body["outputs"][0]["labels"][0]["label"] == "account_access"


async def test_long_classify_stays_on_the_edge(text_edge: str) -> None:
    text = ("My monthly box still has not been delivered and the tracking page is empty. " * 72)[
        :5400
    ]
    status, body, route = await post(
        text_edge,
        {"inputs": {"text": text}, "parameters": {"labels": ["order tracking", "app bug"]}},
    )
    assert status == 200, body
    assert route == "edge" and body["outputs"][0]["truncated"] is True
    assert body["outputs"][0]["labels"][0]["label"] == "order tracking"


@pytest.mark.parametrize("parameters", [{"max_tokens": "10"}, {"temperature": True}])
async def test_loose_types_are_400(text_edge: str, parameters: dict[str, Any]) -> None:
    status, body, _ = await post(text_edge, {"inputs": {"text": "hi"}, "parameters": parameters})
    assert status == 400 and body["error"]["type"], body


async def test_unknown_preset_is_400(text_edge: str) -> None:
    status, body, _ = await post(
        text_edge, {"inputs": {"text": "hi"}, "parameters": {"preset": "poetic"}}
    )
    assert status == 400 and body["error"]["code"] == "unknown_preset", body


def test_cli_fit_writes_a_head_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit_rows, _ = intents()
    csv_file = tmp_path / "support.csv"
    csv_file.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in fit_rows))
    out = tmp_path / "heads" / "support.npz"
    assert cli_main(["classifier", "fit", str(csv_file), "--out", str(out), "--steps", "60"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sha256"] == checksum_path(out).read_text().split()[0]
    assert load_head(out).labels == tuple(dict.fromkeys(label for _, label in fit_rows))
    assert "beta" not in summary  # a linear-only flag (--steps) asks for the linear head
    assert cli_main(["classifier", "fit", str(csv_file), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "kernel" and summary["anchors"] == 7
    assert isinstance(load_head(out), KernelHead)


def test_linear_plan_fits_a_softmax_head_that_serves(encoder: TextEncoder, tmp_path: Path) -> None:
    fit_rows, held_out = intents()
    head = fit_from_examples(encoder, fit_rows, QUICK, choose_text_model().sha256)
    assert isinstance(head, Head) and head.metadata["steps"] == 150
    save_head(head, tmp_path / "linear.npz")
    label_set = resolve_label_set(LabelSetFile(tmp_path / "linear.npz"), encoder, "")
    classifier = ZeroShotClassifier(encoder, {"support": label_set})
    items = [classifier.prepare(EdgeInput(text=t, label_set="support")) for t, _ in held_out]
    right = [
        o["labels"][0]["label"] == gold
        for o, (_, gold) in zip(classifier.run_batch(items), held_out, strict=True)
    ]
    assert np.mean(right) >= 0.8, np.mean(right)


def accuracy(model: ZeroShotClassifier, rows: list[tuple[str, str]], **parameters: Any) -> float:
    """Share of rows whose top label is the gold one."""
    outputs = model.run_batch([model.prepare(EdgeInput(text=t, **parameters)) for t, _ in rows])
    return float(
        np.mean([o["labels"][0]["label"] == g for o, (_, g) in zip(outputs, rows, strict=True)])
    )


def test_cli_self_trains_label_names_on_unlabeled_texts(
    encoder: TextEncoder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(INTENTS.read_text())
    names = tmp_path / "labels.yaml"
    names.write_text(yaml.safe_dump(list(data)))
    rows = [(t, label) for label, texts in data.items() for t in texts]
    unlabeled = tmp_path / "texts.txt"
    unlabeled.write_text("".join(f"{t}\n" for t, _ in rows))
    out = tmp_path / "self.npz"
    argv = ["classifier", "fit", str(names), "--unlabeled", str(unlabeled), "--out", str(out)]
    assert cli_main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "self-trained prototypes" and summary["unlabeled"] == len(rows)
    label_set = resolve_label_set(LabelSetFile(out, summary["sha256"]), encoder, "")
    served = accuracy(
        ZeroShotClassifier(encoder, {"support": label_set}), rows, label_set="support"
    )
    names_only = accuracy(ZeroShotClassifier(encoder, {}), rows, labels=tuple(data))
    # in-domain texts move the prototypes: better than the label names alone on those texts
    assert served > names_only, (served, names_only)


def test_label_names_with_unlabeled_texts_in_config_self_train_at_startup(
    encoder: TextEncoder, tmp_path: Path
) -> None:
    data = yaml.safe_load(INTENTS.read_text())
    names = tmp_path / "labels.txt"
    names.write_text("".join(f"{label}\n" for label in data))
    texts = tmp_path / "texts.csv"
    texts.write_text("text\n" + "".join(f'"{t}"\n' for t in data["order_tracking"][:5]))
    settings = Settings(models={"label_sets": {"s": {"path": str(names), "unlabeled": str(texts)}}})
    source = settings.models.label_sets["s"]
    assert isinstance(source, LabelSetFile) and source.unlabeled == texts
    label_set = resolve_label_set(source, encoder, "")
    assert isinstance(label_set.head, Head) and label_set.head.labels == tuple(data)
    assert label_set.head.metadata["unlabeled"] == 5
    with pytest.raises(ModelLoadError, match="unlabeled"):
        resolve_label_set(LabelSetFile(tmp_path / "x.npz", unlabeled=texts), encoder, "")


async def test_cascade_uses_the_label_sets_calibrated_threshold(head_file: Path) -> None:
    settings = edge_settings(
        models={"tasks": ["classify"], "label_sets": {"support": {"path": str(head_file)}}},
        routing={"warmup_probe": False, "cascade_enabled": True, "cascade_threshold": 1.0},
    )
    app = create_app(settings)
    text = "I want to talk to a real person, not a bot"
    async with serve(app) as url, aiohttp.ClientSession() as http:
        await asyncio.wait_for(app[EDGE].wait_ready(), 300)
        reasons = []
        for parameters in ({"label_set": "support"}, {"labels": ["human agent", "app bug"]}):
            body = {"inputs": {"text": text}, "parameters": parameters}
            async with http.post(url + GEN, json=body) as response:
                assert response.status == 200, await response.text()
                reasons.append(response.headers["X-Route-Reason"])
    # the set's held-out threshold (< 1) keeps a confident answer; the configured 1.0 escalates
    # every request-label answer, and the escalation fails here (no central listens)
    assert reasons == ["cascade:edge-confident", "cascade:central-failed"]
