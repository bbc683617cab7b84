"""Tables of the resilience policies on calls (summary["resilience"]) and of the rate limits
(summary["rate_limits"]), the load shedding (components with `shed` figures) and the wasted work
(summary["wasted_work"]), when a run has any: for the terminal and report.html."""
from __future__ import annotations

from typing import Any

from rich.table import Table

from reports.formatting import num


def resilience_tables(summary: dict[str, Any]) -> list[Table]:
    """The policies on calls and the rate limits, each only when the run has any."""
    return (_calls_table(summary.get("resilience")) + _limits_table(summary.get("rate_limits"))
            + _shedding_table(summary.get("components", {})) + _wasted_table(summary.get("wasted_work")))


def _shedding_table(components: dict[str, Any]) -> list[Table]:
    shedding = {name: c for name, c in components.items() if "shed" in c}
    if not shedding:
        return []
    table = Table(title="Load shedding", title_justify="left")
    for col, just in (("component", "left"), ("discipline", "left"), ("shed", "right"), ("max wait", "right"),
                      ("codel", "right"), ("taken lifo", "right"), ("rejected", "right")):
        table.add_column(col, justify=just)
    for name, c in shedding.items():
        table.add_row(name, c["queue_discipline"], num(c["shed"]), num(c["shed_max_queue_wait"]), num(c["shed_codel"]),
                      num(c["taken_lifo"]), num(c.get("rejected")))
    table.caption = ("shed: dropped from the queue (max wait: waited max_queue_wait; codel: waited over the target "
                     "while congested); rejected: refused by a full queue; taken lifo: served newest-first")
    table.caption_justify = "left"
    return [table]


def _wasted_table(wasted: dict[str, Any] | None) -> list[Table]:
    if not wasted:
        return []
    table = Table(title=f"Wasted work (served after the caller gave up): {wasted['service_s']:.4g} s of service",
                  title_justify="left")
    for col, just in (("component", "left"), ("requests", "right"), ("service s", "right"), ("dropped", "right")):
        table.add_column(col, justify=just)
    for name, w in wasted["components"].items():
        table.add_row(name, num(w["requests"]), f"{w['service_s']:.4g}", num(w.get("dropped_on_arrival")) if "dropped_on_arrival" in w else "")
    return [table]


def _limits_table(limits: dict[str, Any] | None) -> list[Table]:
    if not limits:
        return []
    table = Table(title="Rate limits", title_justify="left")
    keyed = any("per" in lim for lim in limits.values())  # columns only when a limiter is per client/user/key
    cols = [("component", "left"), ("algorithm", "left"), ("admitted", "right"), ("rate limited", "right")]
    cols += [("per", "left"), ("keys", "right"), ("forgotten", "right")] if keyed else []
    for col, just in cols:
        table.add_column(col, justify=just)
    for name, lim in limits.items():
        row = [name, lim["algorithm"], num(lim["admitted"]), num(lim["rate_limited"])]
        if keyed:
            row += ([lim["per"], num(lim["keys_tracked"]), num(lim["keys_forgotten"])] if "per" in lim
                    else ["global", "", ""])
        table.add_row(*row)
    return [table]


def _calls_table(calls: dict[str, Any] | None) -> list[Table]:
    if not calls:
        return []
    table = Table(title="Resilience policies (per call: caller->target)", title_justify="left")
    fallback = any("fallback" in p for p in calls.values())  # a column only when a call has one
    bulkhead = any("bulkhead" in p for p in calls.values())
    hedge = any("hedge" in p for p in calls.values())
    throttling = any("refused_by_throttling" in p.get("retry", {}) for p in calls.values())
    cols = [("call", "left"), ("requests", "right"), ("attempts/req", "right"), ("retries", "right"),
            ("no budget", "right"), ("breaker", "left"), ("opened", "right"), ("refused", "right")]
    cols += [("throttled", "right")] if throttling else []
    cols += [("hedges", "right"), ("hedge won", "right"), ("wasted s", "right")] if hedge else []
    cols += [("bulkhead rej.", "right")] if bulkhead else []
    for col, just in cols + ([("fallbacks", "right")] if fallback else []):
        table.add_column(col, justify=just)
    for label, policies in calls.items():
        r, b, f = policies.get("retry"), policies.get("circuit_breaker"), policies.get("fallback")
        h = policies.get("hedge")
        per = r["attempts_per_request"] if r else None
        requests = r["requests"] if r else None
        if h:  # the hedge is outside the retry: a call's attempts are its hedges' attempts, retries included
            requests = h["calls"]
            sent = r["attempts"] if r else h["attempts"]
            per = sent / requests if requests else None
        row = [label, num(requests) if requests is not None else "", f"{per:.3f}" if per is not None else "",
               num(r["retries"]) if r else "", num(r.get("refused_by_budget")) if r and "refused_by_budget" in r else "",
               b["state"] if b else "", num(b["opened"]) if b else "", num(b["short_circuited"]) if b else ""]
        if throttling:
            row.append(num(r["refused_by_throttling"]) if r and "refused_by_throttling" in r else "")
        if hedge:
            row += [num(h["hedges"]), num(h["won_by_extra"]), f"{h['wasted_service_s']:.4g}"] if h else ["", "", ""]
        if bulkhead:
            bh = policies.get("bulkhead")
            row.append(num(bh["rejected"]) if bh else "")
        if fallback:
            row.append(num(f["fallbacks"]) if f else "")
        table.add_row(*row)
    table.caption = ("attempts/req: attempts per request (amplification); no budget: retries the budget refused; "
                     "refused: calls short-circuited by an open breaker"
                     + ("; throttled: retries refused by retry throttling" if throttling else "")
                     + ("; hedges: extra attempts sent; hedge won: calls answered by an extra attempt; wasted s: "
                        "service time of losing attempts served anyway" if hedge else "")
                     + ("; bulkhead rej.: calls a full bulkhead rejected" if bulkhead else "")
                     + ("; fallbacks: failures answered by the fallback" if fallback else ""))
    table.caption_justify = "left"
    return [table]
