"""Benchmark: register + read round trips per second over HTTP.

Starts `python -m sim serve` on a tiny scenario (3 nodes, manual clock) on 127.0.0.1, then
each client process, over one keep-alive connection, registers a small batch job (POST /v1/jobs)
and reads it back (GET /v1/job/:id), N times. Reports pairs per second and HTTP requests per
second (a pair is two round trips). Simulated time does not move, so only the API path is timed.

    python benchmarks/bench_http.py [--pairs 3000] [--clients 1] [--port 0]
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


def start_server(port: int, scenario_path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "sim", "serve", str(scenario_path), "--port", str(port)],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000, help="register+read pairs per client")
    parser.add_argument("--clients", type=int, default=1, help="client processes (one connection each)")
    parser.add_argument("--port", type=int, default=0, help="use a running server instead of starting one")
    args = parser.parse_args()
    proc = None
    port = args.port
    with tempfile.TemporaryDirectory() as tmp:
        if not port:
            port = free_port()
            path = Path(tmp) / "bench.yaml"
            path.write_text(json.dumps(SCENARIO))
            proc = start_server(port, path)
        try:
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
