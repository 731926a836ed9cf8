"""Names, domains, emails and Salesforce-like ids of the demo company's market.

Why deterministic ids with fixed width: the demo must be byte-identical for a seed, and the
readers should meet ids shaped like a real org's export (3-character key prefix, 18 chars).
"""

from __future__ import annotations

import numpy as np

from revline.demo.streams import Streams

PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006", "Campaign": "701",
          "CampaignMember": "00v", "Task": "00T", "Event": "00U", "OpportunityContactRole": "00K",
          "OpportunityHistory": "008"}


def sfid(obj: str, n: int) -> str:
    """18-character id: key prefix + org marker + zero-padded sequence number."""
    return f"{PREFIX[obj]}Rv{n:013d}"


def sfids(obj: str, ns: np.ndarray) -> np.ndarray:
    """`sfid` for every number in `ns`, as an object array ready for a DataFrame column."""
    return np.array([sfid(obj, int(n)) for n in ns], dtype=object)


_SYL_A = ["Acu", "Bright", "Clear", "Data", "Evo", "Flux", "Grid", "Helio", "Insight", "Jet", "Kin", "Luma",
          "Meri", "Nova", "Opti", "Pulse", "Quanta", "Ridge", "Sum", "Terra", "Uni", "Vector", "Wave", "Xeno",
          "Yield", "Zen", "Arc", "Blue", "Cobalt", "Delta", "Echo", "Forge", "Granite", "Harbor", "Iron", "Juniper"]
_SYL_B = ["soft", "logic", "works", "ify", "ly", "stack", "loop", "point", "scale", "path", "wise", "bridge",
          "sphere", "labs", "metrics", "cloud", "base", "line", "hub", "grid", "mind", "flow", "field", "core"]
_SUFFIX = ["Inc.", "Ltd", "GmbH", "Corp.", "Systems", "Technologies", "Group", "Labs", "Solutions", "Holdings"]
_TLD = [".com", ".com", ".com", ".io", ".co", ".net", ".ai"]
INDUSTRIES = ["Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Education",
              "Media", "Telecommunications", "Logistics", "Professional Services", "Energy", "Insurance"]
FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas", "Mia",
         "Mason", "Amelia", "Ethan", "Harper", "Logan", "Evelyn", "Aiden", "Abigail", "Jackson", "Emily",
         "Sebastian", "Ella", "Mateo", "Chloe", "Leo", "Grace", "Hannah", "Daniel", "Priya", "Arjun", "Mei",
         "Hiroshi", "Fatima", "Omar", "Lena", "Jonas", "Chiara", "Luca", "Ingrid", "Sven", "Aoife", "Sean",
         "Camille", "Louis", "Zoe", "Nadia", "Tomasz", "Ana", "Diego"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez", "Lopez",
        "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Thompson", "White", "Harris",
        "Clark", "Lewis", "Walker", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
        "Patel", "Shah", "Kim", "Nguyen", "Chen", "Muller", "Schmidt", "Rossi", "Dubois", "Bernard", "Jansen",
        "de Vries", "Andersson", "Murphy", "Kelly", "O'Brien", "Kowalski", "Santos", "Novak"]
FREEMAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"]


def company_names(streams: Streams, n: int) -> tuple[list[str], list[str]]:
    """Unique company names and domains (a counter breaks the rare collision)."""
    rng = streams.rng("names", "accounts")
    a = rng.integers(0, len(_SYL_A), n)
    b = rng.integers(0, len(_SYL_B), n)
    s = rng.integers(0, len(_SUFFIX), n)
    t = rng.integers(0, len(_TLD), n)
    names: list[str] = []
    domains: list[str] = []
    seen: dict[str, int] = {}
    for i in range(n):
        stem = _SYL_A[a[i]] + _SYL_B[b[i]]
        k = seen.get(stem, 0)
        seen[stem] = k + 1
        label = stem if k == 0 else f"{stem} {k + 1}"
        slug = stem.lower() if k == 0 else f"{stem.lower()}{k + 1}"
        names.append(f"{label} {_SUFFIX[s[i]]}")
        domains.append(slug + _TLD[t[i]])
    return names, domains


def person_names(streams: Streams, n: int, domain_of_person: list[str], freemail_share: float
                 ) -> tuple[list[str], list[str], list[str]]:
    """First names, last names and unique emails; a `freemail_share` of people sign up with a
    free mailbox instead of their company's domain, which identity stitching must survive."""
    rng = streams.rng("names", "people")
    f = rng.integers(0, len(FIRST), n)
    l_ = rng.integers(0, len(LAST), n)
    free = rng.random(n) < freemail_share
    fm = rng.integers(0, len(FREEMAIL), n)
    firsts, lasts, emails, seen = [], [], [], set()
    for i in range(n):
        fn, ln = FIRST[f[i]], LAST[l_[i]]
        local = f"{fn}.{ln}".lower().replace(" ", "").replace("'", "")
        dom = FREEMAIL[fm[i]] if free[i] else domain_of_person[i]
        email = f"{local}@{dom}"
        k = 2
        while email in seen:
            email = f"{local}{k}@{dom}"
            k += 1
        seen.add(email)
        firsts.append(fn)
        lasts.append(ln)
        emails.append(email)
    return firsts, lasts, emails
