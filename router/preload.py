"""Start loading the edge models while the rest of the edge is still being imported."""

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge_models.registry import EdgeModelsConfig, EdgeRegistry
    from router.settings import Settings


class ModelPreload:
    """Loads the configured models on a thread; `loader` hands the result to the app."""

    def __init__(self, settings: "Settings") -> None:
        self._config = settings.models
        self._future: Future[EdgeRegistry] = Future()
        self._thread = threading.Thread(target=self._run, name="edge-preload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from edge_models.registry import load_models  # imports onnxruntime, tokenizers, PIL

        try:
            self._future.set_result(load_models(self._config))
        except BaseException as exc:  # handed to the app, which reports it on /readyz
            self._future.set_exception(exc)

    def loader(self, config: "EdgeModelsConfig") -> "EdgeRegistry":
        """The app's model loader: the preloaded registry (for the same config), else a load."""
        if config != self._config:
            from edge_models.registry import load_models

            return load_models(config)
        return self._future.result()
