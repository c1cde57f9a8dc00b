"""Validation of the blocks inside a job, with Nomad's exact messages (used by sim.structs.validate.job).

Each check returns a list of `Entry`: the text Nomad prints for one error at that level plus
the (field path, message) leaves under it. A parent appending a child's list reproduces
multierror.Append's flattening; `nest` reproduces an error wrapped as text, the way Nomad
formats a nested multierror inside another message.
"""

from __future__ import annotations

import posixpath
import zoneinfo
from collections.abc import Callable
from typing import Any, NamedTuple

from sim.structs import job as J
from sim.structs.cron.expr import parse_cron
from sim.structs.duration import format_go_duration as dur
from sim.structs.duration import round_go_duration

_S = J.SECOND


class Entry(NamedTuple):
    """One error as Nomad prints it at this level, with the leaves it is made of."""

    text: str
    leaves: tuple[tuple[str, str], ...]


def leaf(field: str, message: str) -> Entry:
    """A single error about one field."""
    return Entry(message, ((field, message),))


def format_multierror(messages: list[str]) -> str:
    """Format errors as hashicorp/go-multierror's ListFormatFunc does."""
    if len(messages) == 1:
        return f"1 error occurred:\n\t* {messages[0]}\n\n"
    points = "\n\t".join(f"* {m}" for m in messages)
    return f"{len(messages)} errors occurred:\n\t{points}\n\n"


def nest(prefix: str, entries: list[Entry]) -> Entry:
    """An error whose text is prefix + the multierror of entries (Nomad's fmt "%v" of it)."""
    leaves = tuple(pair for e in entries for pair in e.leaves)
    return Entry(prefix + format_multierror([e.text for e in entries]), leaves)


def extra_str(obj: Any, key: str) -> str:
    """A string-valued unknown field of a struct ("" when absent or not a string)."""
    value = obj.extra.get(key)
    return value if isinstance(value, str) else ""


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(s: str) -> str:
    """Go's %q of a string (strconv.Quote)."""
    out = []
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


# --- update / migrate / restart / reschedule / disk / logs ---------------------------------


def update_errors(u: J.UpdateStrategy, path: str) -> list[Entry]:
    """Nomad: structs.UpdateStrategy.Validate."""
    errs = []
    if u.health_check not in ("checks", "task_states", "manual"):
        errs.append(leaf(f"{path}.HealthCheck", f"Invalid health check given: {go_quote(u.health_check or '')}"))
    mp, canary = u.max_parallel or 0, u.canary or 0
    mht, hd, pd = u.min_healthy_time or 0, u.healthy_deadline or 0, u.progress_deadline or 0
    checks = [
        (mp < 0, "MaxParallel", f"Max parallel can not be less than zero: {mp} < 0"),
        (canary < 0, "Canary", f"Canary count can not be less than zero: {canary} < 0"),
        (canary == 0 and u.auto_promote, "AutoPromote", "Auto Promote requires a Canary count greater than zero"),
        (mht < 0, "MinHealthyTime", f"Minimum healthy time may not be less than zero: {dur(mht)}"),
        (hd <= 0, "HealthyDeadline", f"Healthy deadline must be greater than zero: {dur(hd)}"),
        (pd < 0, "ProgressDeadline", f"Progress deadline must be zero or greater: {dur(pd)}"),
        (mht >= hd, "MinHealthyTime", f"Minimum healthy time must be less than healthy deadline: {dur(mht)} > {dur(hd)}"),
        (pd != 0 and hd >= pd, "HealthyDeadline", f"Healthy deadline must be less than progress deadline: {dur(hd)} > {dur(pd)}"),
        ((u.stagger or 0) <= 0, "Stagger", f"Stagger must be greater than zero: {dur(u.stagger or 0)}"),
    ]
    return errs + [leaf(f"{path}.{field}", msg) for bad, field, msg in checks if bad]


def migrate_errors(m: J.MigrateStrategy, path: str) -> list[Entry]:
    """Nomad: structs.MigrateStrategy.Validate."""
    errs = []
    mp, mht, hd = m.max_parallel or 0, m.min_healthy_time or 0, m.healthy_deadline or 0
    if mp < 0:
        errs.append(leaf(f"{path}.MaxParallel", f"MaxParallel must be >= 0 but found {mp}"))
    if not m.health_check:
        if mp > 0:
            errs.append(leaf(f"{path}.HealthCheck", "Missing HealthCheck"))
    elif m.health_check not in ("checks", "task_states"):
        errs.append(leaf(f"{path}.HealthCheck", f"Invalid HealthCheck: {go_quote(m.health_check)}"))
    if mht < 0:
        errs.append(leaf(f"{path}.MinHealthyTime", f"MinHealthyTime is {dur(mht)} and must be >= 0"))
    if hd < 0:
        errs.append(leaf(f"{path}.HealthyDeadline", f"HealthyDeadline is {dur(hd)} and must be >= 0"))
    if mht > hd:
        errs.append(leaf(f"{path}.MinHealthyTime", "MinHealthyTime must be less than HealthyDeadline"))
    return errs


def restart_errors(r: J.RestartPolicy, path: str) -> list[Entry]:
    """Nomad: structs.RestartPolicy.Validate."""
    errs = []
    mode, attempts = r.mode or "", r.attempts or 0
    interval, delay = r.interval or 0, r.delay or 0
    if mode not in ("delay", "fail"):
        errs.append(leaf(f"{path}.Mode", f"Unsupported restart mode: {go_quote(mode)}"))
    if attempts == 0 and mode != "fail":
        errs.append(leaf(f"{path}.Attempts", f"Restart policy {go_quote(mode)} with {attempts} attempts is ambiguous"))
    if interval < 5 * _S:
        errs.append(leaf(f"{path}.Interval", f"Interval can not be less than 5s (got {dur(interval)})"))
    if attempts * delay > interval:
        msg = f"Nomad can't restart the TaskGroup {attempts} times in an interval of {dur(interval)} with a delay of {dur(delay)}"
        errs.append(leaf(f"{path}.Attempts", msg))
    return errs


def reschedule_errors(r: J.ReschedulePolicy, path: str) -> list[Entry]:
    """Nomad: structs.ReschedulePolicy.Validate (only when rescheduling is enabled)."""
    attempts, unlimited = r.attempts or 0, bool(r.unlimited)
    if not (attempts > 0 or unlimited):
        return []
    interval, delay, max_delay, fn = r.interval or 0, r.delay or 0, r.max_delay or 0, r.delay_function or ""
    errs = []
    if attempts > 0 and interval <= 0:
        errs.append(leaf(f"{path}.Interval", "Interval must be a non zero value if Attempts > 0"))
    if attempts > 0 and unlimited:
        msg = f"Reschedule Policy with Attempts = {attempts}, Interval = {dur(interval)}, and Unlimited = true is ambiguous"
        errs.append(leaf(f"{path}.Unlimited", msg))
        errs.append(leaf(f"{path}.Unlimited", "If Attempts >0, Unlimited cannot also be set to true"))
    pre_check = True
    if delay < 5 * _S:
        errs.append(leaf(f"{path}.Delay", f"Delay cannot be less than 5s (got {dur(delay)})"))
        pre_check = False
    if fn not in ("constant", "exponential", "fibonacci"):
        msg = f'Invalid delay function {go_quote(fn)}, must be one of ["constant" "exponential" "fibonacci"]'
        errs.append(leaf(f"{path}.DelayFunction", msg))
        pre_check = False
    if fn != "constant":
        if max_delay < 5 * _S:
            errs.append(leaf(f"{path}.MaxDelay", f"Max Delay cannot be less than 5s (got {dur(delay)})"))
            pre_check = False
        if max_delay < delay:
            errs.append(leaf(f"{path}.MaxDelay", f"Max Delay cannot be less than Delay {dur(delay)} (got {dur(max_delay)})"))
            pre_check = False
    if not unlimited:
        if interval < 15 * _S:
            errs.append(leaf(f"{path}.Interval", f"Interval cannot be less than 15s (got {dur(interval)})"))
        if pre_check:
            errs += _reschedule_delay_errors(attempts, interval, delay, max_delay, fn, path)
    return errs


# (possible within the interval, attempts possible, interval recommended) for a delay function
_Viability = tuple[bool, int, J.Duration]


def _reschedule_delay_errors(attempts: int, interval: J.Duration, delay: J.Duration, max_delay: J.Duration,
                             fn: str, path: str) -> list[Entry]:
    """Nomad: structs.ReschedulePolicy.validateDelayParams."""
    viable: dict[str, Callable[[int, J.Duration, J.Duration, J.Duration], _Viability]] = {
        "constant": _constant_viable, "exponential": _exponential_viable, "fibonacci": _fibonacci_viable}
    ok, possible, recommended = viable[fn](attempts, interval, delay, max_delay)
    if ok:
        return []
    if fn == "constant":
        first = f'Nomad can only make {possible} attempts in {dur(interval)} with initial delay {dur(delay)} and delay function "constant"'
    else:
        first = (f"Nomad can only make {possible} attempts in {dur(interval)} with initial delay {dur(delay)}, "
                 f"delay function {go_quote(fn)}, and delay ceiling {dur(max_delay)}")
    second = f"Set the interval to at least {dur(round_go_duration(recommended, _S))} to accommodate {attempts} attempts"
    return [leaf(f"{path}.Interval", first), leaf(f"{path}.Interval", second)]


def _constant_viable(attempts: int, interval: J.Duration, delay: J.Duration, max_delay: J.Duration) -> _Viability:
    recommended = attempts * delay
    if interval < recommended:
        return False, max(0, interval // delay), recommended
    return True, 0, recommended


def _exponential_viable(attempts: int, interval: J.Duration, delay: J.Duration, max_delay: J.Duration) -> _Viability:
    """Nomad's loop, fast-forwarded once the delay is capped (then it grows linearly)."""
    recommended, possible, i = 0, 0, 0
    while i < attempts and (2**i) * delay <= max_delay:
        recommended = (2**i) * delay
        possible += recommended < interval
        i += 1
    remaining = attempts - i
    if remaining > 0:
        if interval > recommended:
            possible += min(remaining, (interval - recommended - 1) // max_delay)
        recommended += max_delay * remaining
    return possible >= attempts, possible, recommended


def _fibonacci_viable(attempts: int, interval: J.Duration, delay: J.Duration, max_delay: J.Duration) -> _Viability:
    """Nomad's slot list, kept explicit until the ceiling and linear afterwards."""
    slots, reached, i = [delay, delay], False, 2
    while i < attempts and not reached:
        nxt = slots[-1] + slots[-2]
        if nxt > max_delay:
            nxt, reached = max_delay, True
        slots.append(nxt)
        i += 1
    linear = attempts - i if reached else 0
    recommended = slots[-1] + max_delay * max(linear, 0)
    if interval >= recommended:
        return True, 0, recommended
    first = next((k for k, s in enumerate(slots) if s > interval), None)
    if first is None:
        first = len(slots) - 1 + (interval - slots[-1]) // max_delay + 1
    return False, first, recommended


def ephemeral_disk_errors(d: J.EphemeralDisk, path: str) -> list[Entry]:
    """Nomad: structs.EphemeralDisk.Validate."""
    size = d.size_mb or 0
    return [leaf(f"{path}.SizeMB", f"minimum DiskMB value is 10; got {size}")] if size < 10 else []


def log_config_errors(lc: J.LogConfig, disk: J.EphemeralDisk | None, path: str) -> list[Entry]:
    """Nomad: structs.LogConfig.Validate."""
    errs = []
    files, size = lc.max_files or 0, lc.max_file_size_mb or 0
    if files < 1:
        errs.append(leaf(f"{path}.MaxFiles", f"minimum number of files is 1; got {files}"))
    if size < 1:
        errs.append(leaf(f"{path}.MaxFileSizeMB", f"minimum file size is 1MB; got {size}"))
    if disk is not None and (disk.size_mb or 0) <= files * size:
        msg = f"log storage ({files * size} MB) must be less than requested disk capacity ({disk.size_mb or 0} MB)"
        errs.append(leaf(path, msg))
    return errs


def resources_errors(r: J.Resources, path: str, devices: list[Entry] | None = None) -> list[Entry]:
    """Nomad: structs.Resources.Validate (MeetsMinResources nested, as Nomad nests it; `devices`:
    the device errors, validate.placement.devices_errors, in their place)."""
    cpu, cores, mem = r.cpu or 0, r.cores or 0, r.memory_mb or 0
    errs = []
    if cores > 0 and cpu > 0:
        errs.append(leaf(f"{path}.CPU", "Task can only ask for 'cpu' or 'cores' resource, not both."))
    if cores < 0:
        errs.append(leaf(f"{path}.Cores", f"cores value ({cores}) cannot be negative"))
    minimums = []
    if cpu < 1 and cores == 0:
        minimums.append(leaf(f"{path}.CPU", f"minimum CPU value is 1; got {cpu}"))
    if mem < 10:
        minimums.append(leaf(f"{path}.MemoryMB", f"minimum MemoryMB value is 10; got {mem}"))
    if minimums:
        errs.append(nest("", minimums))
    if r.disk_mb > 0:
        msg = "Task can't ask for disk resources, they have to be specified at the task group level."
        errs.append(leaf(f"{path}.DiskMB", msg))
    errs += devices or []
    if r.memory_max_mb not in (0, -1) and r.memory_max_mb < mem:
        msg = f"MemoryMaxMB value ({r.memory_max_mb}) should be larger than MemoryMB value ({mem})"
        errs.append(leaf(f"{path}.MemoryMaxMB", msg))
    secrets = r.extra.get("SecretsMB")
    if isinstance(secrets, int) and not isinstance(secrets, bool):
        if secrets > mem:
            msg = f"SecretsMB value ({secrets}) cannot be larger than MemoryMB value ({mem})"
            errs.append(leaf(f"{path}.SecretsMB", msg))
        if secrets < 0:
            errs.append(leaf(f"{path}.SecretsMB", f"SecretsMB value ({secrets}) cannot be negative"))
    return errs


def dispatch_payload_errors(d: J.DispatchPayloadConfig, path: str) -> list[Entry]:
    """Nomad: structs.DispatchPayloadConfig.Validate (the file must stay in the alloc dir)."""
    alloc = "/alloc-dir/alloc-id"
    full = posixpath.normpath(posixpath.join(alloc, "task/local/", d.file))
    if posixpath.relpath(full, alloc).startswith(".."):
        return [leaf(f"{path}.File", "destination escapes allocation directory")]
    return []


def lifecycle_errors(lc: J.TaskLifecycle, path: str) -> list[Entry]:
    """Nomad: structs.TaskLifecycleConfig.Validate."""
    if lc.hook in ("prestart", "poststart", "poststop"):
        return []
    msg = "no lifecycle hook provided" if not lc.hook else f"invalid hook: {lc.hook}"
    return [leaf(f"{path}.Hook", msg)]


# --- periodic / parameterized -----------------------------------------------------------------


def periodic_errors(p: J.PeriodicConfig, path: str) -> list[Entry]:
    """Nomad: structs.PeriodicConfig.Validate (cron specs via sim.structs.cron.expr)."""
    if not p.enabled:
        return []
    errs = []
    if p.spec and p.specs:
        errs.append(leaf(f"{path}.Spec", "Only cron or crons may be used"))
    if not p.spec and not p.specs:
        errs.append(leaf(f"{path}.Spec", "Must specify a spec"))
    if p.time_zone:
        problem = _time_zone_problem(p.time_zone)
        if problem:
            errs.append(leaf(f"{path}.TimeZone", f"Invalid time zone {go_quote(p.time_zone)}: {problem}"))
    if p.spec_type == "cron":
        errs += _cron_errors([p.spec] if p.spec else [], f"{path}.Spec")
        errs += _cron_errors(p.specs, f"{path}.Specs")
    elif p.spec_type != "test":
        errs.append(leaf(f"{path}.SpecType", f"Unknown periodic specification type {go_quote(p.spec_type or '')}"))
    return errs


def _time_zone_problem(name: str) -> str | None:
    """Go's time.LoadLocation error text for a zone name, or None when it loads."""
    if name in ("UTC", "Local"):
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name}"
    return None


def _cron_errors(specs: list[str], path: str) -> list[Entry]:
    """One "Invalid cron spec" error per spec that cronexpr would reject."""
    errs = []
    for spec in specs:
        try:
            parse_cron(spec)
        except ValueError as err:
            errs.append(leaf(path, f"Invalid cron spec {go_quote(spec)}: {err}"))
    return errs


def parameterized_errors(d: J.ParameterizedJobConfig, path: str) -> list[Entry]:
    """Nomad: structs.ParameterizedJobConfig.Validate."""
    errs = []
    if d.payload not in ("optional", "required", "forbidden"):
        errs.append(leaf(f"{path}.Payload", f"Unknown payload requirement: {go_quote(d.payload)}"))
    both = sorted(set(d.meta_required) & set(d.meta_optional))
    if both:
        msg = f"Required and optional meta keys should be disjoint. Following keys exist in both: [{' '.join(both)}]"
        errs.append(leaf(f"{path}.MetaOptional", msg))
    return errs
