"""revline: every go-to-market touchpoint under one roof, and the revenue it produced.

Notebook use::

    import revline
    con = revline.connect("revline.duckdb")
"""

from revline.store import connect

__version__ = "0.1.0"
__all__ = ["connect", "__version__"]
