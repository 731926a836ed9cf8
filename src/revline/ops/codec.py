"""Results as JSON and back, so a job's result crosses the admin API and renders like a local one.

Why not pickle: the client would run whatever the server's bytes say. This codec only rebuilds
dataclasses defined in revline's own modules, DataFrames (as Arrow IPC, keeping dtypes so a date
prints as a date), Counters, tuples, paths and timestamps; anything else must already be JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import io
import math
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any


def encode(obj: Any) -> Any:
    """A JSON-able form of `obj` (see the module docstring for what is kept)."""
    import numpy as np
    import pandas as pd

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        return {"__dc__": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, pd.DataFrame):
        import pyarrow as pa

        sink = io.BytesIO()
        table = pa.Table.from_pandas(obj, preserve_index=False)
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return {"__df__": base64.b64encode(sink.getvalue()).decode(), "attrs": encode(dict(obj.attrs))}
    if isinstance(obj, Counter):
        return {"__counter__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v) for k, v in obj.items()}
        return {"__map__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, Path):
        return {"__path__": str(obj)}
    if isinstance(obj, (pd.Timestamp, datetime)):
        return {"__dt__": obj.isoformat()}
    if isinstance(obj, date):
        return {"__date__": obj.isoformat()}
    if isinstance(obj, np.generic):
        return encode(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot encode a {type(obj).__name__} result")


def _dataclass(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith("revline."):
        raise ValueError(f"refusing to rebuild {name}: not a revline type")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"refusing to rebuild {name}: not a dataclass")
    return cls


def decode(data: Any) -> Any:
    """The inverse of `encode`."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__dc__" in data:
        cls = _dataclass(data["__dc__"])
        values = {k: decode(v) for k, v in data["fields"].items()}
        init = {f.name: values[f.name] for f in dataclasses.fields(cls) if f.init and f.name in values}
        obj = cls(**init)
        for f in dataclasses.fields(cls):
            if not f.init and f.name in values:
                object.__setattr__(obj, f.name, values[f.name])
        return obj
    if "__df__" in data:
        import pyarrow as pa

        with pa.ipc.open_stream(base64.b64decode(data["__df__"])) as reader:
            df = reader.read_all().to_pandas()
        df.attrs.update(decode(data.get("attrs") or {}))
        return df
    if "__counter__" in data:
        return Counter({decode(k): decode(v) for k, v in data["__counter__"]})
    if "__map__" in data:
        return {decode(k): decode(v) for k, v in data["__map__"]}
    if "__tuple__" in data:
        return tuple(decode(v) for v in data["__tuple__"])
    if "__path__" in data:
        return Path(data["__path__"])
    if "__dt__" in data:
        import pandas as pd

        return pd.Timestamp(data["__dt__"]).to_pydatetime()
    if "__date__" in data:
        return date.fromisoformat(data["__date__"])
    if "__float__" in data:
        return float(data["__float__"])
    return {k: decode(v) for k, v in data.items()}
