"""Turn result rows into the tables and plots of ``docs/benchmarks.md``.

Only the part of the document between the ``results`` markers is rewritten, so the
hand-written explanation around it survives a new run.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional

BEGIN = "<!-- results:begin (written by bench/run.py) -->"
END = "<!-- results:end -->"

BASELINE = "sockjs-tornado broadcast"
RABBIT = "RabbitMQ Web-STOMP"


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if digits == 0:
            return "{:,.0f}".format(value)
        return "{:,.{d}f}".format(value, d=digits)
    return str(value)


def ratio(value: Optional[float], ref: Optional[float]) -> str:
    if value is None or not ref:
        return "–"
    return "%.2f×" % (value / ref)


def find(rows: Iterable[Dict[str, Any]], **match: Any) -> Optional[Dict[str, Any]]:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def table(header: List[str], lines: List[List[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def problems(row: Dict[str, Any]) -> str:
    notes = []
    spread = row.get("deliveries_per_s_range")
    if row.get("repeats") and spread and row.get("phase") != "storm":
        notes.append("quietest of %d (all: %s–%s/s)" % (row["repeats"], fmt(spread[0]), fmt(spread[1])))
    if row.get("failed"):
        notes.append("failed: %s" % row["failed"])
    if row.get("refused"):
        notes.append("%d refused" % row["refused"])
    if row.get("closed"):
        notes.append("%d closed" % row["closed"])
    if row.get("errors"):
        notes.append("%d errors" % row["errors"])
    if (row.get("undelivered") or 0) > 0:
        notes.append("%d accepted but not delivered" % row["undelivered"])
    elif (row.get("undelivered") or 0) < 0:
        notes.append("the previous phase was still draining (%d late deliveries)" % -row["undelivered"])
    if (row.get("loadgen_cpu_util") or 0) > 0.9:
        notes.append("load generator saturated")
    if row.get("store_cpu_s_per_1k") is not None:
        notes.append("the store process used %s CPU-ms / 1k deliveries more on the same core"
                     % fmt(row["store_cpu_s_per_1k"] * 1000, 1))
    if (row.get("foreign_cpu_util") or 0) > 0.05:
        notes.append("other processes took %.0f%% of the server core" % (100 * row["foreign_cpu_util"]))
    return "; ".join(notes) or "ok"


#: Reference columns of a delivery table: (title, what identifies the reference row).
DEFAULT_REFS = [("vs sockjs-tornado", {"target": BASELINE}), ("vs RabbitMQ", {"target": RABBIT})]


def held(row: Dict[str, Any]) -> str:
    """How the idle connections were held, and how many the server closed meanwhile."""
    if "held_seconds" not in row:
        return "–"
    beats = row.get("heart_beat", "none")
    how = "%g s, heart-beats %s" % (row["held_seconds"], beats) if beats != "none" else "%g s" % row["held_seconds"]
    return "%s; %d closed" % (how, row.get("closed", 0))


def delivery_table(
    rows: List[Dict[str, Any]], scenario: str, phase: str, refs: Optional[List[Any]] = None
) -> str:
    refs = DEFAULT_REFS if refs is None else refs
    sel = [r for r in rows if r["scenario"] == scenario and r.get("phase") == phase]
    lines = []
    for r in sel:
        ratios = []
        for _, match in refs:
            ref = find(sel, variant=r["variant"], **match)
            ratios.append(ratio(r.get("deliveries_per_s"), ref.get("deliveries_per_s") if ref else None))
        for _, match in refs:
            ref = find(sel, variant=r["variant"], **match)
            ratios.append(ratio(r.get("deliveries_per_cpu_s"), ref.get("deliveries_per_cpu_s") if ref else None))
        lines.append([
            r["variant"], r["target"], r.get("transport", "websocket"),
            fmt(r.get("deliveries_per_s")),
            *ratios[: len(refs)],
            fmt(r.get("p50_ms"), 1), fmt(r.get("p99_ms"), 1),
            fmt((r.get("cpu_s_per_1k") or 0) * 1000 if r.get("cpu_s_per_1k") else None, 1),
            *ratios[len(refs):],
            fmt((r.get("server_cpu_util") or 0) * 100) + "%",
            fmt((r.get("loadgen_cpu_util") or 0) * 100) + "%",
            problems(r),
        ])
    titles = [title for title, _ in refs]
    return table(
        ["case", "server", "transport", "deliveries/s", *titles, "p50 ms", "p99 ms",
         "server CPU-ms / 1k deliveries", *["work per CPU-s " + t for t in titles],
         "server CPU used", "load-gen CPU used", "checks"],
        lines,
    )


def render(rows: List[Dict[str, Any]], meta: Dict[str, Any], skipped: List[str], plots: List[str]) -> str:
    parts = [BEGIN, ""]
    parts.append("Measured %s on %s." % (meta["date"], meta["machine"]))
    parts.append("")
    parts.append("- Command: `%s` (%s mode, %s s measured per phase after %s s warm-up%s)"
                 % (meta["command"], meta["mode"], meta["duration"], meta["warmup"],
                    "; each phase measured %d times, the one least disturbed by other processes kept"
                    % meta["repeats"] if meta.get("repeats", 1) > 1 else ""))
    if meta.get("merged"):
        parts.append("- Merged: %s" % meta["merged"])
    parts.append("- CPUs: %s" % meta["pinning"])
    parts.append("- Versions: %s" % "; ".join(meta["versions"]))
    parts.append("- Load when the run started (1/5/15 min): %s; %s" % (meta["loadavg"], meta["conditions"]))
    parts.append("")
    if skipped:
        parts.append("Skipped:")
        parts += ["- %s" % s for s in skipped]
        parts.append("")
    for title, scenario in (("Fan-out, one destination", "fanout"),
                            ("Fan-out over SockJS framing", "sockjs"),
                            ("Many chat rooms", "rooms"),
                            ("Persistence", "persistence")):
        sel = [r for r in rows if r["scenario"] == scenario]
        if not sel:
            continue
        parts.append("### %s" % title)
        parts.append("")
        parts.append("Publisher as fast as receipts allow (bounded in-flight window):")
        parts.append("")
        refs = [("vs in-memory store", {"store": "memory"})] if scenario == "persistence" else None
        parts.append(delivery_table(rows, scenario, "max", refs))
        parts.append("")
        if any(r.get("phase") == "rate" for r in sel):
            parts.append("Fixed rate of %s deliveries/s (latency):" % fmt(sel[0].get("target_rate") or 5000))
            parts.append("")
            parts.append(delivery_table(rows, scenario, "rate", refs))
            parts.append("")
    idle = [r for r in rows if r["scenario"] == "idle"]
    if idle:
        parts.append("### Idle connections")
        parts.append("")
        # each row against the baseline holding as many connections
        bases = {r["variant"]: r for r in idle if r["target"] == BASELINE}
        lines = [[r["target"], r["variant"], fmt(r.get("kb_per_connection"), 1),
                  ratio(r.get("kb_per_connection"), bases[r["variant"]].get("kb_per_connection")
                        if r["variant"] in bases else None),
                  fmt(r.get("connect_cpu_ms"), 2), fmt(r.get("held_cpu_pct"), 1), fmt(r.get("server_rss_mb"), 0),
                  held(r)] for r in idle]
        parts.append(table(["server", "case", "KB per connection", "vs sockjs-tornado",
                            "server CPU-ms per connect+subscribe", "server CPU while held, % of a core",
                            "server RSS MB", "held"], lines))
        parts.append("")
    storms = [r for r in rows if r["scenario"] == "storm"]
    if storms:
        parts.append("### Reconnect storm")
        parts.append("")
        base = find(storms, target=BASELINE)
        lines = [[r["target"], r["variant"], fmt(r.get("catchup_all_s"), 2),
                  ratio(r.get("catchup_all_s"), base.get("catchup_all_s") if base else None),
                  fmt(r.get("catchup_p50_s"), 2), fmt(r.get("catchup_p99_s"), 2),
                  fmt(r.get("deliveries_per_s")),
                  fmt((r.get("cpu_s_per_1k") or 0) * 1000 if r.get("cpu_s_per_1k") else None, 1),
                  "%d/%d caught up" % (r.get("caught_up", 0), r.get("clients", 0))
                  + ("; %d errors" % r["errors"] if r.get("errors") else "")
                  + ("; %d listen-queue overflows" % r["listen_overflows"] if r.get("listen_overflows") else "")
                  + ("; quietest of %d (all: %s–%s s)" % (r["repeats"], fmt(r["catchup_all_s_range"][0], 2),
                                                          fmt(r["catchup_all_s_range"][1], 2))
                     if r.get("catchup_all_s_range") else "")
                  + ("; other processes took %.0f%% of the server core" % (100 * r["foreign_cpu_util"])
                     if (r.get("foreign_cpu_util") or 0) > 0.05 else "")]
                 for r in storms]
        parts.append(table(["server", "case", "all caught up, s", "vs sockjs-tornado", "p50 client, s",
                            "p99 client, s", "replayed deliveries/s", "server CPU-ms / 1k", "checks"], lines))
        parts.append("")
    for plot in plots:
        parts.append("![%s](benchmarks/%s)" % (os.path.splitext(plot)[0].replace("_", " "), plot))
        parts.append("")
    parts.append(END)
    return "\n".join(parts)


def write_doc(path: str, generated: str, intro: str) -> None:
    """Replace the generated block of ``path`` (or create it with ``intro``)."""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        if BEGIN in text and END in text:
            head = text[: text.index(BEGIN)]
            rest = text[text.index(END) + len(END):]
            text = head + generated + rest
        else:
            text = text.rstrip() + "\n\n" + generated + "\n"
    else:
        text = intro.rstrip() + "\n\n" + generated + "\n"
    with open(path, "w") as f:
        f.write(text)


def plot(rows: List[Dict[str, Any]], outdir: str) -> List[str]:
    """Write PNG plots; returns their file names (empty without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    os.makedirs(outdir, exist_ok=True)
    written: List[str] = []
    targets = []
    for r in rows:
        if r["target"] not in targets:
            targets.append(r["target"])

    def bars(ax: Any, groups: List[str], series: Dict[str, List[Optional[float]]], ylabel: str) -> None:
        width = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, [v or 0 for v in values], width, label=name)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
        ax.grid(axis="y", alpha=0.3)

    fan = [r for r in rows if r["scenario"] in ("fanout", "sockjs", "rooms", "persistence") and r.get("phase") == "max"]
    if fan:
        groups: List[str] = []
        for r in fan:
            g = "%s %s" % ({"fanout": "fan-out", "sockjs": "SockJS", "rooms": "rooms",
                             "persistence": "store"}[r["scenario"]], r["variant"])
            r["_group"] = g
            if g not in groups:
                groups.append(g)
        names = []
        for r in fan:
            name = r["target"]
            r["_name"] = name
            if name not in names:
                names.append(name)
        series = {n: [next((r["deliveries_per_s"] for r in fan if r["_group"] == g and r["_name"] == n), None)
                      for g in groups] for n in names}
        fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(groups)), 4.5))
        bars(ax, groups, series, "deliveries / s (one server core)")
        ax.set_title("Throughput, publisher bounded by receipts")
        plt.setp(ax.get_xticklabels(), rotation=20, ha="right", fontsize="small")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "throughput.png"), dpi=90)
        plt.close(fig)
        written.append("throughput.png")
        for r in fan:
            r.pop("_group", None)
            r.pop("_name", None)
    lat = [r for r in rows if r["scenario"] == "fanout" and r.get("phase") == "rate"]
    if lat:
        groups = []
        for r in lat:
            if r["variant"] not in groups:
                groups.append(r["variant"])
        series = {}
        for t in targets:
            if any(r["target"] == t for r in lat):
                for q in ("p50_ms", "p99_ms"):
                    series["%s %s" % (t, q[:3])] = [
                        next((r[q] for r in lat if r["variant"] == g and r["target"] == t), None) for g in groups]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        bars(ax, groups, series, "latency, ms")
        ax.set_title("Fan-out latency at %s deliveries/s" % fmt(lat[0].get("target_rate") or 5000))
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "latency.png"), dpi=90)
        plt.close(fig)
        written.append("latency.png")
    other = [r for r in rows if r["scenario"] in ("idle", "storm")]
    if other:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        idle = [r for r in other if r["scenario"] == "idle"]
        storm = [r for r in other if r["scenario"] == "storm"]
        axes[0].bar([r["target"] for r in idle], [r.get("kb_per_connection") or 0 for r in idle],
                    color="tab:orange")
        axes[0].set_ylabel("KB per idle connection")
        axes[0].set_title(idle[0]["variant"] if idle else "idle")
        axes[1].bar([r["target"] for r in storm], [r.get("catchup_all_s") or 0 for r in storm], color="tab:green")
        axes[1].set_ylabel("seconds until every client caught up")
        axes[1].set_title(storm[0]["variant"] if storm else "reconnect storm")
        for ax in axes:
            plt.setp(ax.get_xticklabels(), rotation=15, ha="right", fontsize="small")
            ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "connections.png"), dpi=90)
        plt.close(fig)
        written.append("connections.png")
    return written
