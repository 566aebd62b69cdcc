"""The Hugging Face hub switched off for the duration of one call.

``datasets`` and ``huggingface_hub`` read ``HF_DATASETS_OFFLINE``/``HF_HUB_OFFLINE`` once, when
they are imported, into module constants; setting the variables later changes nothing. So the
constants are switched too, and everything is put back on exit: a process that goes on to read
the hub (a corpus job, a test) is not left offline. Offline, a hub request fails at once with
``OfflineModeIsEnabled`` instead of waiting on a network that a compute node may not have.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@contextlib.contextmanager
def hub_offline(offline: bool) -> Iterator[None]:
    """Within the block, no hub access when ``offline`` (a no-op otherwise)."""
    if not offline:
        yield
        return
    import datasets.config
    import huggingface_hub.constants

    constants = [(huggingface_hub.constants, "HF_HUB_OFFLINE"), (datasets.config, "HF_HUB_OFFLINE"),
                 (datasets.config, "HF_DATASETS_OFFLINE")]
    saved_env = {name: os.environ.get(name) for name in _VARIABLES}
    saved = [(module, name, getattr(module, name)) for module, name in constants if hasattr(module, name)]
    try:
        os.environ.update({name: "1" for name in _VARIABLES})
        for module, name, _ in saved:
            setattr(module, name, True)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
