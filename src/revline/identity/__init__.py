"""revline.identity: stitching anonymous ids, logins, emails and CRM ids into persons, and
persons into accounts. `stitch(con)` is the entry point; see stitch.py for the rules."""

from revline.identity.domains import FREE_MAIL_DOMAINS, is_free_mail, normalize_domain
from revline.identity.graph import TYPE_PRIORITY, representatives
from revline.identity.stitch import DERIVED_SOURCE, StitchReport, stitch

__all__ = [
    "DERIVED_SOURCE",
    "FREE_MAIL_DOMAINS",
    "TYPE_PRIORITY",
    "StitchReport",
    "is_free_mail",
    "normalize_domain",
    "representatives",
    "stitch",
]
