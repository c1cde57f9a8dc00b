"""Prefix and fuzzy search over jobs, allocations, evaluations, deployments, nodes, node pools and namespaces.

Nomad: nomad/search_endpoint.go (PrefixSearch, FuzzySearch) and search_endpoint_oss.go. Prefix
search scans at most 20 objects per context (truncateLimit) from the prefix rounded down to an even
number of hex digits for UUID contexts (an invalid UUID prefix silently drops the context);
fuzzy search looks at the first 20 objects per context (search.limit_query), keeps up to 100 matches
(limit_results), needs 2 characters (min_term_length) and ranks by match position, then length,
then name. Plugins, volumes, scaling policies and variables are not simulated: always empty.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from itertools import islice
from typing import Any

from sim.api.cluster import ClusterApi
from sim.api.requests import body, field
from sim.errors import ApiError

TRUNCATE_LIMIT = 20  # Nomad: truncateLimit
FUZZY_LIMIT_QUERY, FUZZY_LIMIT_RESULTS, FUZZY_MIN_TERM = 20, 100, 2  # Nomad: search config defaults
CONTEXTS = ("allocs", "jobs", "nodes", "node_pools", "evals", "deployment", "plugins", "volumes",
            "scaling_policy", "vars", "namespaces")  # Nomad: ossContexts, in order
UUID_CONTEXTS = {"allocs", "nodes", "evals", "deployment", "scaling_policy"}
TABLE_OF = {"allocs": "allocs", "jobs": "jobs", "nodes": "nodes", "evals": "evals", "deployment": "deployment"}
_HEX = set(string.hexdigits)
_DRIVER_PARAMS = {"docker": ("images", "image"), "exec": ("commands", "command"), "raw_exec": ("commands", "command"),
                  "java": ("classes", "class")}  # Nomad: fuzzyMatchesJob's task config fields


def _context_error(context: str) -> ApiError:
    return ApiError(500, f"context must be one of [{' '.join(CONTEXTS)}] or 'all' for all contexts; got \"{context}\"")


def round_uuid_down_if_odd(prefix: str, context: str) -> str:
    """Nomad: roundUUIDDownIfOdd (on the request's context, so "all" rounds job prefixes too)."""
    if context == "jobs":
        return prefix
    return prefix if (len(prefix) - prefix.count("-")) % 2 == 0 else prefix[:-1]


def _valid_uuid_prefix(prefix: str) -> bool:
    """Whether memdb's UUID index accepts the prefix (hex digits, up to 36 characters, 4 hyphens)."""
    return len(prefix) <= 36 and prefix.count("-") <= 4 and set(prefix.replace("-", "")) <= _HEX


class SearchApi(ClusterApi):
    """Search.PrefixSearch and Search.FuzzySearch over one simulation."""

    def _ids(self, context: str, namespace: str) -> list[str]:
        """The IDs (names) of one context in Nomad's index order."""
        state, everywhere = self.state, namespace == "*"

        def ids(items: Iterable[Any]) -> list[str]:
            return sorted(i.id for i in items if everywhere or i.namespace == namespace)

        if context == "jobs":
            return sorted(j.id for j in state.jobs(None if everywhere else namespace))
        if context == "allocs":
            return ids(state.allocs())
        if context == "evals":
            return ids(state.evals())
        if context == "deployment":
            return ids(state.deployments())
        if context == "nodes":
            return sorted(n.id for n in state.nodes.nodes)
        if context == "node_pools":
            return sorted(state.catalog.node_pools)
        if context == "namespaces":
            return sorted(state.catalog.namespaces)
        return []

    def _index(self, contexts: Iterable[str]) -> int:
        """The highest index of the searched tables (1 for namespaces and node pools alone)."""
        return max([1, *(self.state.table_index[TABLE_OF[c]] for c in contexts if c in TABLE_OF)])

    def _prefix_matches(self, context: str, namespace: str, prefix: str, rounded: str) -> tuple[list[str] | None, bool] | None:
        """Nomad: getResourceIter + getPrefixMatches; None when the context's iterator errs (silenced)."""
        if context in UUID_CONTEXTS and not _valid_uuid_prefix(rounded):
            return None
        scanned = iter([i for i in self._ids(context, namespace) if i.startswith(rounded)])
        matches = [i for i in islice(scanned, TRUNCATE_LIMIT) if i.startswith(prefix)]
        return matches or None, next(scanned, None) is not None

    def search(self, payload: Any, namespace: str = "default") -> dict[str, Any]:
        """PUT/POST /v1/search {Prefix, Context}: {Matches, Truncations} per context."""
        struct = "SearchRequest"
        data = body(payload, struct)
        prefix = field(data, "Prefix", str, struct, "")
        context = field(data, "Context", str, struct, "")
        contexts = CONTEXTS if context == "all" else (context,)
        if context not in CONTEXTS and context != "all":
            raise _context_error(context)
        rounded = round_uuid_down_if_odd(prefix, context)
        matches: dict[str, Any] = {}
        truncations: dict[str, bool] = {}
        for ctx in contexts:
            found = self._prefix_matches(ctx, namespace or "default", prefix, rounded)
            if found is not None:
                matches[ctx], truncations[ctx] = found
        self.last_index = self._index(contexts)
        return {"Matches": matches, "Truncations": truncations, "Index": self.last_index,
                "LastContact": 0, "KnownLeader": True, "NextToken": ""}

    # -- fuzzy ------------------------------------------------------------------------------

    def fuzzy_search(self, payload: Any, namespace: str = "default") -> dict[str, Any]:
        """PUT/POST /v1/search/fuzzy {Text, Context}: {Matches: {ctx: [{ID, Scope}]}, Truncations}."""
        struct = "FuzzySearchRequest"
        data = body(payload, struct)
        text = field(data, "Text", str, struct, "")
        context = field(data, "Context", str, struct, "")
        if context not in CONTEXTS and context != "all":
            raise _context_error(context)
        if len(text.encode()) < FUZZY_MIN_TERM:
            raise ApiError(500, f"fuzzy search query must be at least {FUZZY_MIN_TERM} characters, got {len(text.encode())}")
        namespace = namespace or "default"
        contexts = CONTEXTS if context == "all" else (context,)
        matches: dict[str, list[dict[str, Any]]] = {}
        truncations: dict[str, bool] = {}
        for ctx in contexts:
            if ctx in ("evals", "deployment", "scaling_policy", "volumes"):
                found = self._prefix_matches(ctx, namespace, text, round_uuid_down_if_odd(text, context))
                if found is not None:
                    matches[ctx] = [{"ID": i, "Scope": None} for i in found[0] or []]
                    truncations[ctx] = found[1]
                continue
            truncations[ctx] = False
            sets, truncated = self._fuzzy(ctx, namespace, text.lower())
            for sub, found_matches in sets.items():
                matches[sub] = [{"ID": m[0], "Scope": m[1]} for m in found_matches]
            truncations.update(truncated)
        self.last_index = self._index(contexts)
        return {"Matches": matches, "Truncations": truncations, "Index": self.last_index,
                "LastContact": 0, "KnownLeader": True, "NextToken": ""}

    def _fuzzy(self, context: str, namespace: str, text: str) -> tuple[dict[str, list], dict[str, bool]]:
        """Nomad: getFuzzyMatches over the first FUZZY_LIMIT_QUERY objects of one context."""
        objects = self._fuzzy_objects(context, namespace)
        found: dict[str, list[tuple[str, list[str] | None, int]]] = {}
        truncations: dict[str, bool] = {}
        for i, obj in enumerate(objects[:FUZZY_LIMIT_QUERY]):
            limited = i == FUZZY_LIMIT_QUERY - 1 and len(objects) > FUZZY_LIMIT_QUERY
            for sub, match in self._object_matches(context, obj, text):
                if len(found.setdefault(sub, [])) >= FUZZY_LIMIT_RESULTS:
                    truncations[sub] = True
                    break
                found[sub].append(match)
                if limited:
                    truncations[sub] = True
                    break
        ranked = {sub: [(m[0], m[1]) for m in sorted(ms, key=lambda m: (m[2], len(m[0]), m[0]))]
                  for sub, ms in found.items()}
        return ranked, truncations

    def _fuzzy_objects(self, context: str, namespace: str) -> list[Any]:
        state, everywhere = self.state, namespace == "*"
        if context == "jobs":
            return state.jobs(None if everywhere else namespace)
        if context == "allocs":
            return sorted((a for a in state.allocs() if everywhere or a.namespace == namespace), key=lambda a: a.id)
        if context == "nodes":
            return sorted(state.nodes.nodes, key=lambda n: n.id)
        if context == "node_pools":
            return [state.catalog.node_pools[n] for n in sorted(state.catalog.node_pools)]
        if context == "namespaces":
            return [state.catalog.namespaces[n] for n in sorted(state.catalog.namespaces)]
        return []

    @staticmethod
    def _object_matches(context: str, obj: Any, text: str) -> list[tuple[str, tuple[str, list[str] | None, int]]]:
        """(sub-context, (id, scope, score)) of each fuzzy match in one object (Nomad: fuzzyMatchesJob,
        fuzzyMatchSingle)."""
        names: list[tuple[str, str, tuple[str, ...]]] = []  # (sub-context, name, scope)
        if context == "jobs":
            ns, job = obj.namespace, obj.id
            names.append(("jobs", obj.name, (ns, job)))
            for group in obj.task_groups:
                names.append(("groups", group.name, (ns, job)))
                names += [("services", svc.name, (ns, job, group.name)) for svc in group.services]
                for task in group.tasks:
                    names.append(("tasks", task.name, (ns, job, group.name)))
                    names += [("services", svc.name, (ns, job, group.name, task.name)) for svc in task.services]
                    sub, param = _DRIVER_PARAMS.get(task.driver, ("", ""))
                    value = (task.config or {}).get(param) if sub else None
                    if isinstance(value, str):
                        names.append((sub, value, (ns, job, group.name, task.name)))
        elif context == "allocs":
            names.append(("allocs", obj.name, (obj.namespace, obj.id)))
        elif context == "nodes":
            names.append(("nodes", obj.name, (obj.id,)))
        elif context in ("node_pools", "namespaces"):
            names.append((context, obj.name, (obj.name,) if context == "node_pools" else ()))
        out = []
        for sub, name, scope in names:
            idx = name.lower().find(text)
            if idx >= 0:
                out.append((sub, (name, list(scope) or None, idx)))
        return out
