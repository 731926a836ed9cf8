"""Rule model specifications: position weights, and custom ones read from TOML/YAML.

Why one shape for every rule model: first touch, U, W, Z and custom stage weights are all
"a weight per touch position plus a weight spread over the other touches", so one weighting
transform (rules.py) serves all of them and the edge-case rules are written once:

* **Positions.** FT = first eligible touch; LC = last touch at/before lead creation;
  OC = last touch at/before opportunity creation; CW = last touch at/before close won;
  LAST = last eligible touch (used by last_touch only). "other" = every eligible touch holding
  none of the model's weighted positions.
* **Coinciding positions.** One touch holding several weighted positions (FT is also LC)
  receives the sum of their weights (a single-touch W-shaped journey gives that touch 100%).
* **Absent positions.** A position with no touch (no lead milestone, lead created before the
  first touch, CW at an opportunity milestone) or an empty "other" bucket drops out and the
  weights present are renormalised to 1 (proportional redistribution). So U-shaped 40/20/40 on
  a journey with no middle becomes 50/50, as Marketo Measure documents.
* **Nothing present.** If none of the model's weighted components exists (lead_creation
  with no LC touch), credit is split equally over the eligible touches rather than dropped.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

POSITIONS: tuple[str, ...] = ("FT", "LC", "OC", "CW", "LAST")
"""Weighted touch positions (see module docstring)."""


class PositionWeights(BaseModel):
    """Weights of one position-based model; they need not sum to 1 (they are renormalised)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["positions", "time_decay"] = "positions"
    FT: float = Field(0.0, ge=0)
    LC: float = Field(0.0, ge=0)
    OC: float = Field(0.0, ge=0)
    CW: float = Field(0.0, ge=0)
    LAST: float = Field(0.0, ge=0)
    other: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "PositionWeights":
        if self.kind == "positions" and sum(self.weights().values()) + self.other <= 0:
            raise ValueError("at least one weight must be positive")
        return self

    def weights(self) -> dict[str, float]:
        """Weights of the positions only (not `other`)."""
        return {p: getattr(self, p) for p in POSITIONS}

    def to_params(self) -> dict[str, float | str]:
        return self.model_dump()


TIME_DECAY = PositionWeights(kind="time_decay")

BUILTIN_MODELS: dict[str, PositionWeights] = {
    "first_touch": PositionWeights(FT=1.0),
    "lead_creation": PositionWeights(LC=1.0),
    "last_touch": PositionWeights(LAST=1.0),
    "linear": PositionWeights(other=1.0),
    "time_decay": TIME_DECAY,
    "u_shaped": PositionWeights(FT=0.4, LC=0.4, other=0.2),
    "w_shaped": PositionWeights(FT=0.3, LC=0.3, OC=0.3, other=0.1),
    "full_path": PositionWeights(FT=0.225, LC=0.225, OC=0.225, CW=0.225, other=0.1),
}
"""The built-in rule models (README, Models). `full_path` is also called Z-shaped. Other
splits, such as the 50/50 U-shaped variant (FT=50, LC=50), are a weights file away."""


_KEY_ALIASES = {
    "ft": "FT", "first_touch": "FT", "first": "FT",
    "lc": "LC", "lead_creation": "LC", "lead": "LC",
    "oc": "OC", "opportunity_creation": "OC", "opportunity": "OC",
    "cw": "CW", "closed_won": "CW", "close_won": "CW", "won": "CW",
    "last": "LAST", "last_touch": "LAST",
    "other": "other", "middle": "other", "rest": "other",
}


def parse_weights(raw: dict, where: str) -> PositionWeights:
    """Turn one user mapping ({FT: 40, LC: 40, other: 20} or fractions) into weights.

    Percentages and fractions both work because only the ratios matter.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table of position weights, got {type(raw).__name__}")
    fields: dict[str, float] = {}
    for key, value in raw.items():
        norm = _KEY_ALIASES.get(str(key).strip().lower())
        if norm is None:
            raise ValueError(f"{where}: unknown position {key!r}; use FT, LC, OC, CW, LAST or other")
        try:
            fields[norm] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: weight of {key!r} must be a number, got {value!r}") from None
    try:
        return PositionWeights(**fields)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'weights'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{where}: {msg}") from None


def load_weights_file(path: str | os.PathLike[str]) -> dict[str, PositionWeights]:
    """Read custom models from TOML or YAML.

    Either a flat table (one model called `custom`)::

        FT = 30
        LC = 30
        OC = 20
        CW = 10
        other = 10

    or one table per model name::

        [custom_heavy_oc]
        FT = 10
        OC = 60
        other = 30
    """
    path = Path(path)
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"{path}: weights file must be .toml, .yaml/.yml or .json")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot parse weights file: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: empty weights file")
    if all(not isinstance(v, dict) for v in data.values()):
        return {"custom": parse_weights(data, f"{path}")}
    out: dict[str, PositionWeights] = {}
    for name, raw in data.items():
        out[str(name)] = parse_weights(raw, f"{path} [{name}]")
    return out
