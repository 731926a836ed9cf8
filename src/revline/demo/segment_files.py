"""Writing the demo's Segment event stream: monthly gzipped JSON lines (page, track, identify, group).

Why streamed by month: the large demo has millions of events; building one month's lines at a
time keeps memory flat. gzip headers carry no mtime or file name, so same seed -> same bytes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from revline.demo.params import CHANNELS
from revline.demo.simulation import CONTENT, FORM, PAGE, WEBINAR

SITE = "https://www.lumora.io"
_PAGES = [("/", "Lumora | Revenue attribution for B2B"), ("/pricing", "Pricing | Lumora"),
          ("/product/attribution", "Multi-touch attribution | Lumora"), ("/product/mmm", "Marketing mix models | Lumora"),
          ("/customers", "Customer stories | Lumora"), ("/blog/w-shaped-attribution", "W-shaped attribution, explained"),
          ("/blog/b2b-mmm", "MMM for B2B teams"), ("/demo", "Book a demo | Lumora"), ("/integrations/salesforce", "Salesforce integration | Lumora")]
_LANDING = [("/lp/attribution-demo", "See attribution in action | Lumora"), ("/lp/roi-calculator", "Marketing ROI calculator | Lumora"),
            ("/lp/pipeline-report", "The 2025 B2B pipeline report | Lumora")]
_KEYWORDS = ["b2b attribution software", "multi touch attribution", "marketing mix model", "lumora",
             "revenue attribution", "pipeline analytics", "bizible alternative", "marketing roi tool"]
_REFERRALS = ["https://www.g2.com/products/lumora/reviews", "https://www.capterra.com/p/lumora/",
              "https://www.trustradius.com/products/lumora", "https://martech.org/attribution-tools-2025/",
              "https://news.ycombinator.com/item?id=41872233", "https://www.producthunt.com/products/lumora"]
_ASSETS = ["The B2B Attribution Playbook (eBook)", "2025 Pipeline Benchmark Report", "MMM Buyer's Guide", "RevOps Maturity Checklist"]
_FORMS = ["demo-request", "contact-sales", "newsletter-signup", "free-trial"]

_BAD_LINES = (
    (3, '{"type": "page", "anonymousId": "broken-export", "timestamp": "2024-10-01T', "(line)", "line is not valid JSON"),
    (7, json.dumps({"messageId": "ajs-missing-timestamp", "type": "page", "anonymousId": "00000000-0000-4000-8000-000000000000",
                    "properties": {"path": "/"}, "context": {"page": {"path": "/", "url": SITE + "/"}}}, separators=(",", ":")),
     "timestamp", "event has no timestamp"),
)
EPOCH = np.datetime64("2024-10-01T00:00:00", "s")


def iso(ts: np.ndarray) -> np.ndarray:
    """Seconds since 2024-10-01 -> '2025-01-03T14:22:11.000Z'."""
    s = np.datetime_as_string(EPOCH + ts.astype("timedelta64[s]"), unit="s")
    return np.char.add(s.astype(str), ".000Z")


def _context(ch: str, kind: int, camp_id: str, camp_name: str, uk: float) -> tuple[dict | None, str, str, str]:
    """(utm campaign, path, title, referrer) a touch of this channel would carry."""
    k = int(uk * 1000) % 72
    path, title = _PAGES[k % len(_PAGES)]
    utm = None
    ref = ""
    if ch == "paid_search":
        google = "Bing" not in camp_name
        utm = {"source": "google" if google else "bing", "medium": "cpc", "name": camp_id,
               "term": _KEYWORDS[k % len(_KEYWORDS)], "content": f"ad-{k % 6 + 1}"}
        ref = "https://www.google.com/" if google else "https://www.bing.com/"
        path, title = _LANDING[k % len(_LANDING)]
    elif ch == "paid_social":
        li = "Meta" not in camp_name
        utm = {"source": "linkedin" if li else "facebook", "medium": "paid_social", "name": camp_id,
               "content": f"creative-{k % 4 + 1}"}
        ref = "https://www.linkedin.com/" if li else "https://www.facebook.com/"
        path, title = _LANDING[k % len(_LANDING)]
    elif ch == "display":
        utm = {"source": "doubleclick", "medium": "display", "name": camp_id, "content": f"banner-{k % 4 + 1}"}
        ref = "https://ad.doubleclick.net/"
        path, title = _LANDING[k % len(_LANDING)]
    elif ch == "email":
        utm = {"source": "marketo", "medium": "email", "name": camp_id, "content": f"link-{k % 3 + 1}"}
    elif ch == "organic_search":
        ref = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"][k % 3]
    elif ch == "organic_social":
        ref = ["https://www.linkedin.com/", "https://t.co/", "https://www.reddit.com/"][k % 3]
    elif ch == "referral":
        ref = _REFERRALS[k % len(_REFERRALS)]
    elif ch == "content":
        utm = {"source": "netline" if "NetLine" in camp_name else "techtarget", "medium": "content_syndication",
               "name": camp_id, "content": f"asset-{k % len(_ASSETS) + 1}"}
        path, title = "/resources/download", "Download | Lumora"
    elif ch == "webinar":
        utm = {"source": "lumora", "medium": "webinar", "name": camp_id}
        path, title = "/webinars/register", "Webinar registration | Lumora"
    elif ch == "partner":
        utm = {"source": "partner", "medium": "referral", "name": camp_id}
    return utm, path, title, ref


def write_segment(out_dir: Path, r, people: dict, accounts: dict, campaigns: dict, n_days: int, seed: int,
                  bad_rows: list[dict], progress=None) -> dict:
    """Write segment/events-YYYY-MM.jsonl.gz; return counts by event type and touch records by channel."""
    seg_dir = out_dir / "segment"
    seg_dir.mkdir(parents=True, exist_ok=True)
    chan_web = {i for i, c in enumerate(CHANNELS) if c in ("paid_search", "paid_social", "display", "organic_search",
                                                           "organic_social", "direct", "referral", "email")}
    seg_mask = np.isin(r.t_kind, [PAGE, FORM, CONTENT, WEBINAR]) & ~((r.t_kind == PAGE) & ~np.isin(r.t_channel, list(chan_web)))
    idx = np.flatnonzero(seg_mask)
    person = r.t_person[idx]
    ts = r.t_day[idx].astype(np.int64) * 86400 + r.t_sec[idx]
    kind = r.t_kind[idx]
    lag = 1 + (r.t_uk[idx] * 14).astype(np.int64)
    ts = np.where(kind == WEBINAR, ts - lag * 86400, ts)
    known_ts = people["known_ts"]
    identified = ts >= known_ts[person]
    # People with a second device (phone, home laptop) use it for about a third of their visits.
    device = (people["anonymous_id_2"][person] != "") & ((ts // 7) % 3 == 0)
    # identify (+ group for some) at the first identified event of each known person on each device
    key = person.astype(np.int64) * 2 + device
    order = np.lexsort((ts, key))
    sel = order[identified[order]]
    first_k, first_i = np.unique(key[sel], return_index=True)
    id_rows = sel[first_i]
    first_p = first_k // 2
    grp = people["group_call"][first_p]
    ev_person = np.concatenate([person, first_p, first_p[grp]])
    ev_device = np.concatenate([device, first_k % 2 == 1, (first_k % 2 == 1)[grp]])
    ev_ts = np.concatenate([ts, ts[id_rows], ts[id_rows][grp]])
    ev_sub = np.concatenate([np.full(len(idx), 2), np.zeros(len(first_p), int), np.ones(int(grp.sum()), int)])
    ev_src = np.concatenate([idx, np.full(len(first_p), -1), np.full(int(grp.sum()), -1)])
    ev_ident = np.concatenate([identified, np.ones(len(first_p) + int(grp.sum()), bool)])
    o = np.lexsort((ev_device, ev_src, ev_sub, ev_ts))
    ev_person, ev_ts, ev_sub = ev_person[o].astype(np.int32), ev_ts[o], ev_sub[o].astype(np.int8)
    ev_src, ev_ident, ev_device = ev_src[o].astype(np.int32), ev_ident[o], ev_device[o]
    del seg_mask, idx, person, ts, kind, lag, identified, order, sel, o, key, device  # keep only what the loop reads
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=(7, 7))))
    months = [np.datetime64("2024-10", "M") + i for i in range(24)]
    month_start_s = np.array([(m.astype("datetime64[s]") - EPOCH).astype(np.int64) for m in months]
                             + [(months[-1] + 1).astype("datetime64[s]").astype(np.int64) - EPOCH.astype(np.int64)])
    by_month_bounds = np.searchsorted(ev_ts, month_start_s)
    counts = {"page": 0, "track": 0, "identify": 0, "group": 0}
    files = {}
    anon, anon2, uid, email = people["anonymous_id"], people["anonymous_id_2"], people["user_id"], people["email"]
    camp_id, camp_name = campaigns["id"], campaigns["name"]
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    page_tail: dict[tuple[int, int, int], str] = {}  # encoded page events repeat: cache their JSON tail

    def page_json(ch_i: int, c: int, k: int) -> str:
        k = k % 72  # every detail choice below uses a modulus dividing 72: a small cache covers them all
        key = (ch_i, c, k)
        if key not in page_tail:
            cid, cname = (camp_id[c], camp_name[c]) if c >= 0 else ("", "")
            utm, path, title, ref = _context(CHANNELS[ch_i], PAGE, cid, cname, k / 1000.0)
            page = {"path": path, "url": SITE + path, "referrer": ref, "title": title}
            ctx = {"page": page} | ({"campaign": utm} if utm else {})
            page_tail[key] = dumps({"type": "page", "name": title, "properties": page, "context": ctx})[1:]
        return page_tail[key]

    for mi, m in enumerate(months):
        lo, hi = by_month_bounds[mi], by_month_bounds[mi + 1]
        rel = f"segment/events-{m}.jsonl.gz"
        raw = open(out_dir / rel, "wb")
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
        lines: list[str] = []
        state = {"written": 0, "first": True}

        def flush() -> None:
            nonlocal lines
            if mi == 0 and state["first"]:  # deliberately bad lines, listed in ground_truth.json["bad_rows"]
                for line_no, text, field, reason in _BAD_LINES:
                    k = min(line_no - 1, len(lines))
                    lines.insert(k, text)
                    bad_rows.append({"file": rel, "row_number": k + 1, "field": field, "reason": reason})
            state["first"] = False
            if lines:
                gz.write(("\n".join(lines) + "\n").encode("utf-8"))
                state["written"] += len(lines)
                lines = []
        mids = rng.integers(0, 2**63 - 1, size=(hi - lo, 2), dtype=np.int64).tolist()  # drawn month by month
        stamps = iso(ev_ts[lo:hi]).tolist()
        for j in range(lo, hi):
            if len(lines) >= 20_000:  # stream: a month of the large demo is a few hundred MB of JSON
                flush()
            p = int(ev_person[j])
            m0, m1 = mids[j - lo]
            head = f'{{"messageId":"ajs-{m0:016x}{m1:016x}","anonymousId":"{anon2[p] if ev_device[j] else anon[p]}",'
            if ev_ident[j]:
                head += f'"userId":"{uid[p]}",'
            head += f'"timestamp":"{stamps[j - lo]}",'
            s = int(ev_src[j])
            if s < 0:
                if ev_sub[j] == 0:
                    body = {"type": "identify", "traits": {"email": email[p], "firstName": people["first_name"][p],
                                                           "lastName": people["last_name"][p], "title": people["title"][p]}}
                    counts["identify"] += 1
                else:
                    a = int(people["account"][p])
                    body = {"type": "group", "groupId": accounts["id"][a],
                            "traits": {"name": accounts["name"][a], "website": accounts["domain"][a],
                                       "industry": accounts["industry"][a], "employees": int(accounts["employees"][a])}}
                    counts["group"] += 1
                lines.append(head + dumps(body)[1:])
                continue
            ch_i = int(r.t_channel[s])
            c = int(r.t_campaign[s])
            k = int(r.t_uk[s] * 1000)
            kind = int(r.t_kind[s])
            if kind == PAGE:
                lines.append(head + page_json(ch_i, c, k))
                counts["page"] += 1
                continue
            cid, cname = (camp_id[c], camp_name[c]) if c >= 0 else ("", "")
            utm, path, title, ref = _context(CHANNELS[ch_i], kind, cid, cname, k / 1000.0)
            if kind == FORM:
                body = {"type": "track", "event": "Form Submitted",
                        "properties": {"form_id": _FORMS[(k * 997 // 1000) % len(_FORMS)], "email": email[p]}}
            elif kind == CONTENT:
                body = {"type": "track", "event": "Content Downloaded",
                        "properties": {"asset": _ASSETS[k % len(_ASSETS)], "email": email[p]}}
            else:
                body = {"type": "track", "event": "Webinar Registered",
                        "properties": {"webinar": cname, "campaign_id": cid, "email": email[p]}}
            page = {"path": path, "url": SITE + path, "referrer": ref, "title": title}
            body["context"] = {"page": page} | ({"campaign": utm} if utm else {})
            lines.append(head + dumps(body)[1:])
            counts["track"] += 1
        flush()
        gz.close()
        raw.close()
        files[rel] = state["written"]
        if progress:
            progress(f"segment {m}", mi + 1, len(months))
    return {"counts": counts, "files": files}
