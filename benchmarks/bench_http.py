"""Benchmark: register + read round trips per second over HTTP.

Starts `python -m sim serve` on a tiny scenario (3 nodes, manual clock) on 127.0.0.1, then
each client process, over one keep-alive connection, registers a small batch job (POST /v1/jobs)
and reads it back (GET /v1/job/:id), N times. Reports pairs per second and HTTP requests per
second (a pair is two round trips). Simulated time does not move, so only the API path is timed.

    python benchmarks/bench_http.py [--pairs 3000] [--clients 1] [--port 0]

Two more modes (issue 15):

    python benchmarks/bench_http.py --mixed 60 --clients 32
        each client thread, for 60 s, loops over a mix: list its jobs (GET /v1/jobs?prefix=), register
        one (POST /v1/jobs), a blocking query its register ends, read the job and its allocations, a
        blocking query another client's write ends (GET /v1/jobs?prefix=..&index=<current>&wait=1s),
        and every 10th loop a 1 s advance (POST /v1/sim/advance, which schedules what was
        registered); reports requests/s, latency p50/p99 and errors. `--journal` serves with a
        journal (fsync per write) to show its cost.
    python benchmarks/bench_http.py --abandoned 3000
        opens 3,000 blocking queries (GET /v1/jobs?index=999999999&wait=300s) on raw sockets,
        closes them all, then times the next register and read (before: minutes).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = {
    "name": "bench-http", "seed": 1, "duration": "1h",
    "cluster": {"nodes": [{"count": 3, "name_prefix": "node", "resources": {"cpu": 4000, "memory": 8192,
                                                                          "disk": 102400}}]},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_body(tag: str, i: int) -> bytes:
    return json.dumps({"Job": {
        "ID": f"bench-{tag}-{i}", "Type": "batch", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{
            "Name": "t", "Driver": "docker", "Config": {"image": "busybox"},
            "Resources": {"CPU": 10, "MemoryMB": 16}}]}]}}).encode()


def start_server(port: int, scenario_path: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "sim", "serve", str(scenario_path), "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/v1/sim/status")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


def client(port: int, tag: str, pairs: int, start: mp.Event, out: mp.Queue) -> None:
    """One keep-alive connection: `pairs` register + read round trips."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    bodies = [job_body(tag, i) for i in range(pairs)]
    headers = {"Content-Type": "application/json"}
    start.wait()
    t0 = time.perf_counter()
    for i, body in enumerate(bodies):
        conn.request("POST", "/v1/jobs", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        conn.request("GET", f"/v1/job/bench-{tag}-{i}")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
    out.put(time.perf_counter() - t0)


def mixed_client(port: int, tag: str, seconds: float, out: list, errors: list) -> None:
    """One keep-alive connection looping over the mix until `seconds` pass."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    end = time.perf_counter() + seconds
    i = 0

    def request(method: str, path: str, body: bytes | None = None) -> http.client.HTTPResponse:
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t0)
        if resp.status != 200:
            errors.append((method, path, resp.status))
        return resp

    own = f"/v1/jobs?prefix=bench-{tag}-"
    while time.perf_counter() < end:
        index = request("GET", own).getheader("X-Nomad-Index")
        request("POST", "/v1/jobs", job_body(tag, i % 50))
        request("GET", f"{own}&index={index}&wait=1s")  # answered at once: the register moved the index
        request("GET", f"/v1/job/bench-{tag}-{i % 50}")
        index = request("GET", f"/v1/job/bench-{tag}-{i % 50}/allocations").getheader("X-Nomad-Index")
        request("GET", f"{own}&index={index}&wait=1s")  # woken by another client's write (or 1 s)
        if i % 10 == 0:
            request("POST", "/v1/sim/advance", b'{"Seconds": 1}')
        i += 1


def run_mixed(port: int, clients: int, seconds: float) -> None:
    import threading

    latencies: list[float] = []
    errors: list = []
    threads = [threading.Thread(target=mixed_client, args=(port, f"m{k}", seconds, latencies, errors))
               for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(f"mixed load: {clients} clients, {wall:.1f}s: {len(lat)} requests, {len(lat) / wall:,.0f} req/s, "
          f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {lat[-1] * 1000:.0f} ms, errors {len(errors)}")
    if errors:
        print("  first errors:", errors[:5])


def run_abandoned(port: int, count: int) -> None:
    """(Needs `ulimit -n` above `count`, for this process and the server it starts.)"""
    def timed(method: str, path: str, body: bytes | None = None) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        return time.perf_counter() - t0

    baseline = timed("POST", "/v1/jobs", job_body("warm", 0)) + timed("GET", "/v1/job/bench-warm-0")
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /v1/jobs?index=999999999&wait=300s HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    time.sleep(2.0)
    waiting = json.loads(_get(port, "/v1/sim/status"))["BlockedQueries"]
    t0 = time.perf_counter()
    for s in socks:
        s.close()
    burst = timed("POST", "/v1/jobs", job_body("burst", 0))  # queued behind the server noticing the closes
    while json.loads(_get(port, "/v1/sim/status"))["BlockedQueries"]:
        time.sleep(0.01)
    cleaned = time.perf_counter() - t0
    took = timed("POST", "/v1/jobs", job_body("after", 0)) + timed("GET", "/v1/job/bench-after-0")
    print(f"{count} abandoned blocking queries ({waiting} were waiting): all cancelled {cleaned * 1000:.0f} ms "
          f"after the close; a register sent with the closes {burst * 1000:.0f} ms; the next register+read "
          f"{took * 1000:.1f} ms (before them {baseline * 1000:.1f} ms)")


def _get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    return conn.getresponse().read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000, help="register+read pairs per client")
    parser.add_argument("--clients", type=int, default=1, help="client processes (one connection each)")
    parser.add_argument("--port", type=int, default=0, help="use a running server instead of starting one")
    parser.add_argument("--mixed", type=float, default=0, metavar="SECONDS", help="mixed load for SECONDS")
    parser.add_argument("--abandoned", type=int, default=0, metavar="N", help="N abandoned blocking queries")
    parser.add_argument("--journal", action="store_true", help="serve with --journal (in a temporary folder)")
    args = parser.parse_args()
    proc = None
    port = args.port
    with tempfile.TemporaryDirectory() as tmp:
        if not port:
            port = free_port()
            path = Path(tmp) / "bench.yaml"
            path.write_text(json.dumps(SCENARIO))
            proc = start_server(port, path, *(["--journal", str(Path(tmp) / "j.jsonl")] if args.journal else []))
        try:
            if args.mixed or args.abandoned:
                if args.mixed:
                    run_mixed(port, args.clients, args.mixed)
                if args.abandoned:
                    run_abandoned(port, args.abandoned)
                return
            start, out = mp.Event(), mp.Queue()
            workers = [mp.Process(target=client, args=(port, f"c{k}-{time.time_ns()}", args.pairs, start, out))
                       for k in range(args.clients)]
            for w in workers:
                w.start()
            time.sleep(0.5)
            t0 = time.perf_counter()
            start.set()
            for w in workers:
                w.join()
            wall = time.perf_counter() - t0
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    total = args.pairs * args.clients
    print(f"{total} register+read pairs, {args.clients} client(s): {wall:.2f}s wall")
    print(f"  {total / wall:,.0f} pairs/s  ({2 * total / wall:,.0f} HTTP round trips/s)")


if __name__ == "__main__":
    main()
