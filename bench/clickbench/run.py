"""ClickBench on one machine in one run: Granary beside chDB (ClickHouse in-process) and DuckDB.

    python run.py --rows 1000000 --server target/release/granary-server --work DIR --out bench/results

1. Generates the data (generate.py; cached in the work directory by size and seed) as Parquet.
2. Loads the same Parquet into each engine (Granary through the Python SDK in blocks of 1 048 576
   rows, chDB from file(), DuckDB from read_parquet()), timed, and reads each one's bytes on disk.
3. Runs the 43 queries of queries.sql as written, RUNS hot runs per engine, engines interleaved per
   query; then one cold run per query for Granary (server restarted, page cache dropped when the
   machine allows it). A query past --timeout is stopped (its engine's process restarted) and
   recorded; so is an error.
4. Checks every engine's answer against chDB's (compare.py: ties under LIMIT allowed, floats
   within 1e-6), so that a fast wrong answer is reported as wrong.
5. Runs the dashboard concurrency benchmark (concurrency.py) against Granary.
6. Writes OUT/<date>-<rows>.md and .json.

Progress goes to standard error, a line per step and per query.
"""

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import compare  # noqa: E402
from generate import CREATE_SQL, generate  # noqa: E402
import report as report_module  # noqa: E402
from report import SHIFT  # noqa: E402

QUERIES_SQL = os.path.join(os.path.dirname(CREATE_SQL), "queries.sql")
ENGINES = ("granary", "chdb", "duckdb")
REFERENCE = "chdb"
LOAD_TIMEOUT = 4 * 3600


def log(message):
    print(message, file=sys.stderr, flush=True)


class Timeout(Exception):
    pass


class Worker:
    """worker.py for one engine, in its own process."""

    def __init__(self, name, target):
        self.name, self.target = name, target
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "worker.py"), name, target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def request(self, timeout, **payload):
        self.process.stdin.write(json.dumps(payload) + "\n")
        self.process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise Timeout(f"no answer in {timeout:g} s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} worker exited (code {self.process.wait()})")
        return json.loads(line)

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class GranaryServer:
    """A release granary-server on a data directory, on ports the system picks."""

    def __init__(self, binary, data_dir, log_path):
        self.binary, self.data_dir, self.log_path = binary, data_dir, log_path
        self.process = None

    def start(self):
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                [self.binary, "--data-dir", self.data_dir, "--pg-addr", "127.0.0.1:0",
                 "--native-addr", "127.0.0.1:0"], stderr=log_file, stdout=log_file)
        deadline = time.time() + 120
        while time.time() < deadline:
            with open(self.log_path) as f:
                f.seek(offset)
                text = f.read()
            native = re.findall(r"native protocol listening on (127\.0\.0\.1:\d+)", text)
            pg = re.findall(r"PostgreSQL protocol listening on (127\.0\.0\.1:\d+)", text)
            if native and pg:
                self.native, self.pg = native[-1], pg[-1]
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"granary-server did not start; see {self.log_path}")

    def peak_rss(self):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def drop_page_cache():
    """Empties the OS page cache when the machine lets this process (root, writable /proc/sys)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        os.makedirs(self.work, exist_ok=True)
        self.server = GranaryServer(os.path.abspath(args.server),
                                    os.path.join(self.work, "granary-data"),
                                    os.path.join(self.work, "granary-server.log"))
        self.workers = {}

    def target(self, engine):
        return {"granary": lambda: self.server.native,
                "chdb": lambda: os.path.join(self.work, "chdb"),
                "duckdb": lambda: os.path.join(self.work, "duckdb.db")}[engine]()

    def worker(self, engine):
        if engine not in self.workers:
            self.workers[engine] = Worker(engine, self.target(engine))
        return self.workers[engine]

    def restart(self, engine, drop_cache=False):
        """A fresh process for `engine` (and, for Granary, a fresh server: a timed-out query may
        still be running there). With `drop_cache`, the page cache is emptied while Granary is
        down; returns whether it was."""
        worker = self.workers.pop(engine, None)
        if worker:
            worker.close()
        dropped = False
        if engine == "granary":
            self.server.stop()
            dropped = drop_cache and drop_page_cache()
            self.server.start()
        return dropped

    def call(self, engine, timeout, **payload):
        try:
            return self.worker(engine).request(timeout, **payload)
        except (Timeout, RuntimeError, BrokenPipeError) as error:
            self.restart(engine)
            kind = "timeout" if isinstance(error, Timeout) else "crash"
            return {"ok": False, kind: True, "error": f"{kind}: {error}"}

    # -- steps --------------------------------------------------------------------------------

    def data(self):
        path = os.path.join(self.work, f"hits-{self.args.rows}-seed{self.args.seed}.parquet")
        if not os.path.exists(path):
            log(f"generating {self.args.rows:,} rows into {path}")
            started = time.perf_counter()
            generate(self.args.rows, path, self.args.seed,
                     lambda done, total: log(f"  generated {done:,} / {total:,} rows"))
            log(f"  {time.perf_counter() - started:.1f} s")
        return path

    def load(self, parquet):
        for path in ("granary-data", "chdb", "duckdb.db", "duckdb.db.wal"):
            full = os.path.join(self.work, path)
            if os.path.isdir(full):
                shutil.rmtree(full)
            elif os.path.exists(full):
                os.remove(full)
        self.server.start()
        loads = {}
        for engine in self.args.engines:
            log(f"loading {engine}")
            answer = self.call(engine, LOAD_TIMEOUT, op="load", parquet=parquet)
            if not answer["ok"]:
                raise RuntimeError(f"{engine} load failed: {answer['error']}")
            count = self.call(engine, 600, op="query", sql="SELECT count(*) FROM hits")
            rows = count["rows"][0][0] if count["ok"] else None
            if rows != self.args.rows:
                raise RuntimeError(f"{engine} holds {rows} rows after the load, "
                                   f"not {self.args.rows}: {count}")
            size = self.call(engine, 600, op="size")
            version = self.call(engine, 600, op="version")
            loads[engine] = {
                "seconds": round(answer["seconds"], 3),
                "rows_per_second": round(self.args.rows / answer["seconds"]),
                "bytes_on_disk": size.get("bytes"),
                "version": version.get("version"),
            }
            log(f"  {answer['seconds']:.1f} s, {loads[engine]['rows_per_second']:,} rows/s, "
                f"{(size.get('bytes') or 0) / 1e6:,.0f} MB on disk")
        return loads

    def hot_runs(self, queries):
        results = []
        for number, sql in enumerate(queries, 1):
            if self.args.queries and number not in self.args.queries:
                continue
            entry = {"query": number, "sql": sql, "engines": {}}
            for engine in self.args.engines:
                entry["engines"][engine] = {"times": [], "error": None, "rows": None}
            for _ in range(self.args.runs):
                for engine in self.args.engines:
                    slot = entry["engines"][engine]
                    if slot["error"]:
                        continue  # a query that failed once is not run again on that engine
                    answer = self.call(engine, self.args.timeout, op="query", sql=sql)
                    if answer["ok"]:
                        slot["times"].append(round(answer["seconds"], 4))
                        if slot["rows"] is None:
                            slot["rows"] = answer["rows"]
                    else:
                        slot["error"] = answer["error"][:500]
                        slot["timeout"] = bool(answer.get("timeout"))
            self.check(entry)
            results.append(entry)
            log(f"Q{number:<2} " + "  ".join(
                f"{engine} {self.show(entry['engines'][engine])}" for engine in self.args.engines))
        return results

    def check(self, entry):
        """Each engine's answer against the reference engine's (or, if that one failed, the
        first engine that answered)."""
        spec = compare.SPECS[entry["query"]]
        slots = entry["engines"]
        answered = [e for e in self.args.engines if slots[e]["rows"] is not None]
        reference = REFERENCE if REFERENCE in answered else (answered[0] if answered else None)
        for engine in self.args.engines:
            slot = slots[engine]
            if slot["rows"] is None:
                slot["check"] = "failed"
            elif engine == reference:
                slot["check"] = "reference"
            else:
                why = compare.compare(entry["sql"], spec, slots[reference]["rows"], slot["rows"])
                slot["check"] = "ok" if why is None else f"differs from {reference}: {why}"
            slot["result_rows"] = None if slot["rows"] is None else len(slot["rows"])
        for engine in self.args.engines:
            slots[engine].pop("rows")

    @staticmethod
    def show(slot):
        if slot["error"]:
            return "TIMEOUT" if slot.get("timeout") else "ERROR"
        mark = "" if slot["check"] in ("ok", "reference") else " WRONG"
        return f"{min(slot['times']):.3f}s{mark}"

    def cold_runs(self, results):
        dropped = False
        for entry in results:
            dropped = self.restart("granary", drop_cache=True)
            answer = self.call("granary", self.args.timeout, op="query", sql=entry["sql"])
            slot = entry["engines"]["granary"]
            slot["cold"] = round(answer["seconds"], 4) if answer["ok"] else None
            log(f"Q{entry['query']:<2} granary cold "
                f"{'%.3fs' % slot['cold'] if slot['cold'] is not None else 'failed'}")
        return dropped

    def concurrency(self):
        command = [sys.executable, os.path.join(HERE, "concurrency.py"), "--pg", self.server.pg,
                   "--native", self.server.native, "--clients", self.args.clients,
                   "--seconds", str(self.args.concurrency_seconds)]
        log("concurrency: " + " ".join(command[2:]))
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        return json.loads(output)

    def run(self):
        queries = [q.strip().rstrip(";") for q in open(QUERIES_SQL) if q.strip()]
        assert len(queries) == 43, len(queries)
        parquet = self.data()
        started = dt.datetime.now(dt.timezone.utc)
        report = {
            "date": started.strftime("%Y-%m-%d"),
            "started": started.isoformat(timespec="seconds"),
            "rows": self.args.rows,
            "seed": self.args.seed,
            "parquet_bytes": os.path.getsize(parquet),
            "runs": self.args.runs,
            "timeout_seconds": self.args.timeout,
            "machine": machine(),
            "granary_commit": git_commit(),
            "engines": self.args.engines,
        }
        try:
            report["load"] = self.load(parquet)
            report["queries"] = self.hot_runs(queries)
            report["granary_peak_rss_bytes"] = self.server.peak_rss()
            if "granary" in self.args.engines and not self.args.no_cold:
                report["page_cache_dropped"] = self.cold_runs(report["queries"])
            if "granary" in self.args.engines and self.args.clients:
                report["concurrency"] = self.concurrency()
        finally:
            for worker in self.workers.values():
                worker.close()
            self.server.stop()
        report["summary"] = summary(report)
        return report


def best(slot, penalty):
    return min(slot["times"]) if slot["times"] and not slot["error"] else penalty


def summary(report):
    """Geometric means of per-query ratios (ClickBench's: times shifted by 10 ms; a failed query
    counts as the time limit) and the queries where Granary is furthest behind chDB."""
    penalty = report["timeout_seconds"]
    engines = report["engines"]
    out = {"geomean": {}, "failures": {}, "mismatches": {}}
    for engine in engines:
        out["failures"][engine] = [e["query"] for e in report["queries"]
                                   if e["engines"][engine]["error"]]
        out["mismatches"][engine] = [e["query"] for e in report["queries"]
                                     if e["engines"][engine]["check"].startswith("differs")]
    if "granary" in engines:
        for other in engines:
            if other == "granary":
                continue
            ratios = [(best(e["engines"]["granary"], penalty) + SHIFT)
                      / (best(e["engines"][other], penalty) + SHIFT) for e in report["queries"]]
            if ratios:
                out["geomean"][f"granary/{other}"] = round(
                    math.exp(sum(map(math.log, ratios)) / len(ratios)), 3)
        if "chdb" in engines:
            slowest = sorted(report["queries"], key=lambda e: -(
                (best(e["engines"]["granary"], penalty) + SHIFT)
                / (best(e["engines"]["chdb"], penalty) + SHIFT)))
            out["slowest_vs_chdb"] = [e["query"] for e in slowest[:5]]
    return out


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo")
                      if line.startswith("MemTotal:"))
    except OSError:
        memory = None
    import pyarrow

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": memory,
            "kernel": platform.release(), "python": platform.python_version(),
            "pyarrow": pyarrow.__version__}


def git_commit():
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=True,
                                stdout=subprocess.PIPE, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, text=True).stdout.strip()
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server", required=True, help="the granary-server binary (release)")
    parser.add_argument("--work", required=True, help="data, engines' files and logs")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300, help="per query, seconds")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--queries", default="", help="e.g. 1,5,29 (default: all)")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--clients", default="1,4,16",
                        help="concurrency benchmark client counts ('' to skip)")
    parser.add_argument("--concurrency-seconds", type=float, default=10)
    args = parser.parse_args()
    args.engines = [e for e in args.engines.split(",") if e]
    args.queries = {int(q) for q in args.queries.split(",") if q}
    report = Bench(args).run()
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"{report['date']}-{args.rows}")
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(report_module.render(report))
    log(f"wrote {base}.md and {base}.json")
    print(report_module.headline(report))


if __name__ == "__main__":
    main()
