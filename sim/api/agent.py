"""The agent, status, region, namespace, node pool and metrics endpoints of the one simulated server.

Nomad: command/agent/{agent,status,region,namespace,node_pool,metrics}_endpoint.go. The simulation
is one server agent ("nomadsim.global", region "global", the first node's datacenter), its own
raft peer and leader. /v1/metrics answers go-metrics' JSON summary (InmemSink.DisplayMetrics) of
gauges and counters taken from the simulated state at the current simulated instant.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any

from sim.api.cluster import ClusterApi
from sim.errors import ApiError
from sim.state.namespaces import Namespace, NodePool

REGION = "global"
AGENT_NAME = "nomadsim"
RPC_ADDR = "127.0.0.1:4647"
NOMAD_VERSION = "1.11.0"  # what the simulated nodes report (nomad.version)


def _namespace(ns: Namespace) -> dict[str, Any]:
    """Nomad: structs.Namespace."""
    return {"Name": ns.name, "Description": ns.description, "Quota": "", "Capabilities": None,
            "NodePoolConfiguration": None, "Meta": dict(ns.meta) or None, "CreateIndex": ns.create_index,
            "ModifyIndex": ns.modify_index}


def _node_pool(pool: NodePool) -> dict[str, Any]:
    """Nomad: structs.NodePool."""
    return {"Name": pool.name, "Description": pool.description, "Meta": dict(pool.meta) or None,
            "SchedulerConfiguration": None, "CreateIndex": pool.create_index, "ModifyIndex": pool.modify_index}


def _gauge(name: str, value: float, **labels: str) -> dict[str, Any]:
    return {"Name": name, "Value": float(value), "Labels": labels}


def _sampled(name: str, values: list[float], interval: float = 10.0, **labels: str) -> dict[str, Any]:
    """go-metrics' SampledValue of a counter or timer over `values`."""
    n = len(values)
    total = float(sum(values))
    mean = total / n if n else 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return {"Name": name, "Count": n, "Rate": total / interval, "Sum": total, "Min": min(values, default=0.0),
            "Max": max(values, default=0.0), "Mean": mean, "Stddev": math.sqrt(var), "Labels": labels}


class AgentApi(ClusterApi):
    """The agent's own endpoints, namespaces, node pools and telemetry."""

    @property
    def datacenter(self) -> str:
        nodes = self.state.nodes.nodes
        return nodes[0].datacenter if nodes else "dc1"

    def _member(self) -> dict[str, Any]:
        """Nomad: api.AgentMember of the simulated server."""
        tags = {"build": NOMAD_VERSION, "dc": self.datacenter, "expect": "1", "id": "", "mvn": "1",
                "port": "4647", "raft_vsn": "3", "region": REGION, "role": "nomad", "rpc_addr": "127.0.0.1",
                "vsn": "1", "bootstrap": "1"}
        return {"Name": f"{AGENT_NAME}.{REGION}", "Addr": "127.0.0.1", "Port": 4648, "Tags": tags, "Status": "alive",
                "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2, "DelegateMin": 2, "DelegateMax": 5,
                "DelegateCur": 4}

    def agent_self(self, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/agent/self: {config, member, stats}."""
        index = str(self.state.index)
        config = {"Region": REGION, "Datacenter": self.datacenter, "NodeName": AGENT_NAME,
                  "Version": {"Version": NOMAD_VERSION, "VersionPrerelease": "", "VersionMetadata": "",
                              "Revision": ""},
                  "Server": {"Enabled": True, "BootstrapExpect": 1,
                             "NumSchedulers": self.server.config.num_schedulers},
                  "Client": {"Enabled": False}, "ACL": {"Enabled": False},
                  "Ports": {"HTTP": 4646, "RPC": 4647, "Serf": 4648}, "BindAddr": "127.0.0.1"}
        stats = {"nomad": {"server": "true", "leader": "true", "leader_addr": RPC_ADDR, "bootstrap": "true",
                           "known_regions": "1"},
                 "raft": {"applied_index": index, "commit_index": index, "last_log_index": index,
                          "state": "Leader", "num_peers": "0"},
                 "runtime": {"arch": "amd64", "os": "linux", "version": "simulated"}}
        return {"config": config, "member": self._member(), "stats": stats}

    def agent_members(self, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/agent/members: Nomad's ServerMembers."""
        return {"ServerName": f"{AGENT_NAME}.{REGION}", "ServerRegion": REGION, "ServerDC": self.datacenter,
                "Members": [self._member()]}

    def status_peers(self, namespace: str = "default") -> list[str]:
        """GET /v1/status/peers: the raft peers (the one server)."""
        return [RPC_ADDR]

    def regions(self, namespace: str = "default") -> list[str]:
        """GET /v1/regions."""
        return [REGION]

    # -- namespaces and node pools ----------------------------------------------------------

    def list_namespaces(self, prefix: str = "", namespace: str = "default") -> list[dict[str, Any]]:
        """GET /v1/namespaces (`?prefix=`), sorted by name."""
        catalog = self.state.catalog.namespaces
        self.last_index = max(ns.modify_index for ns in catalog.values())
        return [_namespace(catalog[n]) for n in sorted(catalog) if n.startswith(prefix)]

    def read_namespace(self, name: str, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/namespace/:name."""
        if not name:
            raise ApiError(400, "Missing Namespace Name")
        ns = self.state.catalog.namespaces.get(name)
        if ns is None:
            raise ApiError(404, "Namespace not found")
        self.last_index = ns.modify_index
        return _namespace(ns)

    def list_node_pools(self, prefix: str = "", namespace: str = "default") -> list[dict[str, Any]]:
        """GET /v1/node/pools (`?prefix=`), sorted by name."""
        pools = self.state.catalog.node_pools
        self.last_index = max(p.modify_index for p in pools.values())
        return [_node_pool(pools[n]) for n in sorted(pools) if n.startswith(prefix)]

    def read_node_pool(self, name: str, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/node/pool/:name."""
        pool = self.state.catalog.node_pools.get(name)
        if pool is None:
            raise ApiError(404, "node pool not found")
        self.last_index = pool.modify_index
        return _node_pool(pool)

    # -- telemetry --------------------------------------------------------------------------

    def metrics(self, namespace: str = "default", format: str = "") -> dict[str, Any]:
        """GET /v1/metrics: {Timestamp, Gauges, Points, Counters, Samples} (Nomad's JSON telemetry)."""
        if format == "prometheus":
            raise ApiError(415, "Prometheus is not enabled")
        state, server = self.state, self.server
        stamp = dt.datetime.fromtimestamp(round(self.nanos(self.sim.now) / 1e9), dt.UTC)
        gauges = [_gauge(f"nomad.nomad.broker.{k}", v) for k, v in server.broker.stats().items() if k != "by_type"]
        blocked = server.blocked.stats()
        gauges += [_gauge(f"nomad.nomad.blocked_evals.{k}", blocked[k])
                   for k in ("total_blocked", "total_escaped", "total_captured")]
        jobs = Counter(j.status for j in state.jobs(None))
        gauges += [_gauge(f"nomad.nomad.job_status.{s}", jobs.get(s, 0)) for s in ("pending", "running", "dead")]
        for job in state.jobs(None):
            summary = state.job_summary(*job.ns_id)
            for group, g in sorted(summary.summary.items()) if summary else ():
                for key in ("queued", "complete", "failed", "running", "starting", "lost", "unknown"):
                    gauges.append(_gauge(f"nomad.nomad.job_summary.{key}", getattr(g, key),
                                         job=job.id, task_group=group, namespace=job.namespace))
        nodes = Counter((n.status, n.scheduling_eligibility) for n in state.nodes.nodes)
        gauges += [_gauge("nomad.nomad.client.nodes", count, status=status, eligibility=elig)
                   for (status, elig), count in sorted(nodes.items())]
        allocs = Counter(a.client_status for a in state.allocs())
        gauges += [_gauge(f"nomad.client.allocations.{s}", c) for s, c in sorted(allocs.items())]
        evals = state.evals()
        counters = [_sampled("nomad.nomad.worker.dequeue_eval", [1.0] * self.sim.recorder.scheduler_runs())]
        by_trigger = Counter(e.triggered_by for e in evals)
        counters += [_sampled("nomad.nomad.eval.created", [1.0] * c, triggered_by=t) for t, c in sorted(by_trigger.items())]
        latency = [e.modify_time - e.create_time for e in evals if e.terminal()]
        samples = [_sampled("nomad.nomad.eval.latency_seconds", latency)]
        return {"Timestamp": f"{stamp:%Y-%m-%d %H:%M:%S} +0000 UTC", "Gauges": gauges, "Points": [],
                "Counters": counters, "Samples": samples}
