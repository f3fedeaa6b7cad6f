"""The Markdown report of a run (run.py writes it beside the JSON it is made from).

    python report.py RESULTS.json   # renders it again, to standard output
"""

import json
import sys

NAMES = {"granary": "Granary", "chdb": "chDB", "duckdb": "DuckDB"}
SHIFT = 0.01  # ClickBench adds 10 ms to every time before taking ratios


def seconds(slot):
    if slot["error"]:
        return "timeout" if slot.get("timeout") else "error"
    text = f"{min(slot['times']):.3f}"
    return text if slot["check"] in ("ok", "reference") else f"{text} (wrong)"


def ratio(a, b):
    if a["error"] or b["error"]:
        return "–"
    return f"{(min(a['times']) + SHIFT) / (min(b['times']) + SHIFT):.2f}"


def mb(value):
    return "–" if value is None else f"{value / 1e6:,.0f}"


def headline(report):
    geo = report["summary"]["geomean"]
    parts = [f"{pair}: {value:.2f}" for pair, value in geo.items()]
    return (f"ClickBench, {report['rows']:,} rows: geometric mean of Granary's time over its "
            f"peers' (lower is better) " + ", ".join(parts))


def render(report):
    engines = report["engines"]
    machine = report["machine"]
    load = report["load"]
    out = [
        f"# ClickBench: Granary, chDB and DuckDB, {report['rows']:,} rows ({report['date']})",
        "",
        "Produced by `make bench` (bench/clickbench/run.py); how to reproduce and what the data "
        "is: bench/README.md. All engines ran on one machine in one run, queries interleaved.",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{(machine['memory_bytes'] or 0) / 2**30:.0f} GiB RAM, Linux {machine['kernel']}, "
        f"Python {machine['python']}, pyarrow {machine['pyarrow']}",
        f"- Granary commit {report['granary_commit']}; "
        + "; ".join(load[e]["version"] or e for e in engines if e in load),
        f"- Data: {report['rows']:,} rows generated with seed {report['seed']} "
        f"(bench/clickbench/generate.py), {mb(report['parquet_bytes'])} MB of Parquet (ZSTD)",
        f"- Hot runs: best of {report['runs']}; time limit {report['timeout_seconds']:g} s per "
        f"query. Granary's cold run: one run after a server restart"
        + (", page cache dropped" if report.get("page_cache_dropped")
           else ", page cache NOT dropped (this machine does not allow it)")
        + (f". Granary server peak RSS over the load and the hot runs: "
           f"{report['granary_peak_rss_bytes'] / 2**20:,.0f} MiB"
           if report.get("granary_peak_rss_bytes") else ""),
        "",
        "## Summary",
        "",
        "Geometric mean over the 43 queries of the ratio of Granary's best time to the peer's "
        "(ClickBench's method: 10 ms added to both; a failed query counts as the time limit). "
        "Below 1 means Granary is faster.",
        "",
    ]
    for pair, value in report["summary"]["geomean"].items():
        out.append(f"- **{pair}: {value:.2f}**")
    for engine in engines:
        failures = report["summary"]["failures"][engine]
        mismatches = report["summary"]["mismatches"][engine]
        out.append(f"- {NAMES[engine]}: {43 - len(failures)} of 43 queries answered"
                   + (f" (failed: {', '.join(f'Q{q}' for q in failures)})" if failures else "")
                   + (f"; answers differing from chDB's: {', '.join(f'Q{q}' for q in mismatches)}"
                      if mismatches else "; every answer matches chDB's" if engine != "chdb"
                      else ""))
    out += ["", "## Load", "",
            "The same Parquet file into each engine: Granary through its Python SDK (row groups of "
            "1,048,576 rows, one insert each), chDB by `INSERT ... SELECT FROM file()`, DuckDB by "
            "`INSERT ... SELECT FROM read_parquet()`. Bytes on disk: the table's active parts "
            "(Granary, chDB) or the database file (DuckDB).", "",
            "| Engine | Seconds | Rows/s | MB on disk |", "|---|---:|---:|---:|"]
    for engine in engines:
        if engine in load:
            entry = load[engine]
            out.append(f"| {NAMES[engine]} | {entry['seconds']:.1f} | "
                       f"{entry['rows_per_second']:,} | {mb(entry['bytes_on_disk'])} |")
    peers = [e for e in engines if e != "granary"]
    header = ["Query"] + [f"{NAMES[e]} (s)" for e in engines]
    if "granary" in engines:
        header += ["Granary cold (s)"] + [f"Granary/{NAMES[e]}" for e in peers]
    out += ["", "## Queries", "",
            "Best hot time in seconds; \"(wrong)\" marks an answer that differs from chDB's "
            "(details below).", "",
            "| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for entry in report["queries"]:
        slots = entry["engines"]
        cells = [f"Q{entry['query']}"] + [seconds(slots[e]) for e in engines]
        if "granary" in engines:
            cold = slots["granary"].get("cold")
            cells.append("–" if cold is None else f"{cold:.3f}")
            cells += [ratio(slots["granary"], slots[e]) for e in peers]
        out.append("| " + " | ".join(cells) + " |")
    problems = [(entry, engine) for entry in report["queries"] for engine in engines
                if entry["engines"][engine]["error"]
                or entry["engines"][engine]["check"].startswith("differs")]
    if problems:
        out += ["", "## Failures and differing answers", ""]
        for entry, engine in problems:
            slot = entry["engines"][engine]
            out.append(f"- Q{entry['query']} {NAMES[engine]}: {slot['error'] or slot['check']}")
    if "slowest_vs_chdb" in report["summary"]:
        out += ["", "## Granary's five slowest queries relative to chDB", ""]
        for number in report["summary"]["slowest_vs_chdb"]:
            entry = next(e for e in report["queries"] if e["query"] == number)
            sql = entry["sql"] if len(entry["sql"]) <= 150 else entry["sql"][:147] + "..."
            out.append(f"- Q{number} "
                       f"({ratio(entry['engines']['granary'], entry['engines']['chdb'])}x): `{sql}`")
    if report.get("concurrency"):
        out += ["", "## Dashboard concurrency (Granary)", "",
                "N clients, each on its own connection, sending back to back: "
                f"`{report['concurrency']['query']}` (a counter of the 50 largest, a week of July "
                "2013; bench/clickbench/concurrency.py). Clients and server share the machine.", "",
                "| Protocol | Clients | Queries/s | p50 ms | p95 ms | p99 ms | Errors |",
                "|---|---:|---:|---:|---:|---:|---|"]
        for r in report["concurrency"]["results"]:
            out.append(f"| {r['protocol']} | {r['clients']} | {r['qps']:,} | {r['p50_ms']} | "
                       f"{r['p95_ms']} | {r['p99_ms']} | {len(r['errors']) or ''} |")
    out += ["", "## Queries as run", ""]
    for entry in report["queries"]:
        out.append(f"{entry['query']}. `{entry['sql']}`")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(json.load(open(sys.argv[1]))))
