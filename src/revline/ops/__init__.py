"""The operations layer: what `revline <command>` and the server's jobs both run.

Why one layer: a job the server runs for `revline attribute` must write the same rows and return
the same figures as the command run without a server. Each operation takes a connection, plain
JSON-able keyword arguments and a `progress(done, total, label)` callback, and returns a result
object (a dataclass, or a report of a lower area) that the CLI renders and the admin API sends as
JSON (`revline.ops.codec`). Layering: store < ... < reports < ops < api < demo < commands.
"""

from revline.ops.registry import OPERATIONS, Operation, get_operation

__all__ = ["OPERATIONS", "Operation", "get_operation"]
