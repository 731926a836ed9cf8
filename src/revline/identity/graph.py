"""Connected components of the identity graph, with an order-free choice of representative.

Why integer codes sorted by preference: when node codes are assigned in the order
(type priority, value), the representative of a component (the preferred identity) is simply
its smallest code. That makes the chosen person id a function of the *set* of identities and
edges only: neither edge order, nor insertion order, nor scipy's component numbering matter.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# Which identity names a person: a CRM contact beats a lead (a converted lead becomes the
# contact), a CRM record beats a product login, a login beats an address, an address beats a
# cookie. Unknown identity types rank last but still join the graph.
TYPE_PRIORITY: dict[str, int] = {
    "crm_contact_id": 0,
    "crm_lead_id": 1,
    "user_id": 2,
    "email": 3,
    "anonymous_id": 4,
}
UNKNOWN_PRIORITY = 9
CRM_TYPES: tuple[str, ...] = ("crm_contact_id", "crm_lead_id")


def representatives(n_nodes: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each node code, the smallest code of its connected component.

    `left`/`right` are integer node codes of undirected edges; self-loops and duplicates are
    harmless. Runs in O(nodes + edges) with scipy's union of components.
    """
    if n_nodes == 0:
        return np.zeros(0, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    if left.shape != right.shape:
        raise ValueError(f"edge arrays differ in length: {left.shape} vs {right.shape}")
    if len(left) and (min(left.min(), right.min()) < 0 or max(left.max(), right.max()) >= n_nodes):
        raise ValueError(f"edge endpoint outside 0..{n_nodes - 1}")
    adj = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(adj, directed=False)
    # Labels are 0..k-1; the first position where each label occurs is its smallest code.
    _, first = np.unique(labels, return_index=True)
    return first.astype(np.int64)[labels]
