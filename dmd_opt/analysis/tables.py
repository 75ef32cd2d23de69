"""Tables of the analysis layer as JSON-ready records."""

from __future__ import annotations

import numpy as np


def records(df) -> list[dict]:
    """Rows of a DataFrame as dicts of plain Python values (non-finite numbers → ``None``)."""
    if df is None or len(df) == 0:
        return []
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        (v.item() if isinstance(v, np.generic) else v)) for k, v in rec.items()})
    return out
