"""revline.attribution: rule-based and data-driven models writing the credit ledger.

`MODELS` maps a model name to a runner with the signature
`fn(con, *, milestones, revenue_types, scope, lookback_days, weighted, **params) -> list[run_id]`.
The rule models register themselves here; data-driven models (markov, shapley) add their own
entry, and `run_models(con, models=[...])` dispatches to any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from revline.attribution.config import BUILTIN_MODELS
from revline.attribution.runner import attribute, run_models

ModelRunner = Callable[..., list[str]]


def _rule_runner(name: str, con: Any, **kwargs: Any) -> list[str]:
    return run_models(con, models=[name], **kwargs)


MODELS: dict[str, ModelRunner] = {name: partial(_rule_runner, name) for name in BUILTIN_MODELS}

from revline.attribution.distribute import registry as _data_driven  # noqa: E402  (markov, shapley)

MODELS.update(_data_driven())

__all__ = ["MODELS", "ModelRunner", "attribute", "run_models"]
