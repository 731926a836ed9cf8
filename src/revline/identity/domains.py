"""Company domains: normalising them and telling business mail from free mail.

Why a list of free-mail providers: joining a person to an account by email domain is only
evidence when the domain belongs to one company. `jane@gmail.com` says nothing about Jane's
employer, and joining every Gmail user to an account whose domain field says `gmail.com` would
be a silent, large error. The list is a default the caller can extend.

Why the public-suffix list (tldextract's bundled snapshot): a person at `eu.acme.com` works for
the account `acme.com`, but `acme.co.uk` is not a subdomain of `co.uk`, and `foo.herokuapp.com`
is not `herokuapp.com` (a private suffix). Cutting hosts at "the last two labels" gets both wrong.
The snapshot ships with the package and is never refreshed over the network at run time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import pyarrow as pa
import tldextract

from revline.store.sql import lit

# Exact free-mail domains (consumer mailbox providers).
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "hotmail.com",
        "outlook.com", "live.com", "msn.com", "passport.com", "icloud.com", "me.com", "mac.com",
        "aol.com", "aim.com", "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com",
        "tuta.io", "web.de", "t-online.de", "freenet.de", "arcor.de", "posteo.de", "mailbox.org",
        "mail.com", "email.com", "zoho.com", "zohomail.com", "yandex.com", "yandex.ru", "ya.ru",
        "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru", "qq.com", "163.com", "126.com",
        "sina.com", "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "fastmail.com",
        "fastmail.fm", "hey.com", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr",
        "libero.it", "virgilio.it", "tiscali.it", "seznam.cz", "wp.pl", "o2.pl", "interia.pl",
        "onet.pl", "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net",
        "cox.net", "charter.net", "earthlink.net", "btinternet.com", "sky.com", "virginmedia.com",
        "ntlworld.com", "bigpond.com", "optusnet.com.au", "shaw.ca", "rogers.com", "sympatico.ca",
        "uol.com.br", "bol.com.br", "terra.com.br", "hushmail.com", "gmx.com", "gmx.net", "gmx.de",
    }
)

# Provider families registered under many country TLDs (gmx.at, yahoo.co.uk, hotmail.fr ...).
FREE_MAIL_PREFIXES: tuple[str, ...] = ("gmx.", "yahoo.", "hotmail.", "outlook.", "live.", "ymail.", "aol.")

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def normalize_domain(value: str | None) -> str | None:
    """Lower-case host of a domain, URL or email address, without `www.`; None when empty."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    text = _SCHEME.sub("", text)
    text = re.split(r"[/?#:]", text, maxsplit=1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    return text or None


def is_free_mail(domain: str | None, extra: Iterable[str] = ()) -> bool:
    """True when the domain is a consumer mailbox provider (never evidence of an employer)."""
    d = normalize_domain(domain)
    if d is None:
        return False
    extra_set = {normalize_domain(e) for e in extra}
    return d in FREE_MAIL_DOMAINS or d in extra_set or d.startswith(FREE_MAIL_PREFIXES)


def domain_sql(expr: str) -> str:
    """SQL twin of `normalize_domain` (DuckDB's dialect; sqlglot carries it to Spark's) for a column holding a domain, URL or email."""
    host = (
        f"regexp_replace(regexp_replace(lower(trim({expr})), '^[a-z][a-z0-9+.-]*://', ''), "
        "'[/?#:].*$', '')"
    )
    host = f"CASE WHEN strpos({host}, '@') > 0 THEN split_part({host}, '@', -1) ELSE {host} END"
    host = f"regexp_replace(trim({host}, '.'), '^www[.]', '')"  # [.], not an escape: Spark reads backslashes in literals
    return f"nullif({host}, '')"


def free_mail_sql(domain_expr: str, extra: Iterable[str] = ()) -> str:
    """SQL predicate: the (already normalised) domain expression is free mail."""
    exact = sorted(FREE_MAIL_DOMAINS | {d for d in (normalize_domain(e) for e in extra) if d})
    quoted = ", ".join(lit(d) for d in exact)
    likes = " OR ".join(f"starts_with({domain_expr}, {lit(p)})" for p in FREE_MAIL_PREFIXES)
    return f"({domain_expr} IN ({quoted}) OR {likes})"


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    """The extractor: tldextract on its bundled public-suffix snapshot only: no URL to fetch, no cache directory
    (so never a download or a write at run time); private suffixes (github.io, herokuapp.com)
    count as suffixes, so two companies hosted there stay two."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                                 include_psl_private_domains=True)


def registered_domain(value: str | None) -> str | None:
    """The domain a company registered (one label under its public suffix): `eu.acme.com` ->
    `acme.com`, `sub.acme.co.uk` -> `acme.co.uk`. A host with no public suffix (an IP, `localhost`,
    `isp.example`) is returned as it is; None when empty."""
    host = normalize_domain(value)
    if host is None:
        return None
    return _extractor()(host).top_domain_under_public_suffix or host


def registered_domains(hosts: Iterable[str]) -> pa.Table:
    """`(host, reg)`: each of the (distinct, normalised) `hosts` with its registered domain. Why a
    table and not a UDF: hosts repeat (one company, thousands of emails), so the caller collects the
    distinct ones, each is cut once here, and the table is joined in SQL (DuckDB or Spark)."""
    hosts = list(hosts)
    return pa.table({"host": pa.array(hosts, pa.string()),
                     "reg": pa.array([registered_domain(h) for h in hosts], pa.string())})
