"""Go-compatible matchers behind the `version`, `semver` and `regexp` constraint operators.

Nomad checks `version` constraints with hashicorp/go-version (lenient versions, `~>`
pessimistic operator, prereleases only satisfy prerelease constraints of the same core) and
`semver` constraints with its own helper/constraints/semver (strict Semver 2.0 constraint
syntax and ordering, no `~>`). In both cases the node's value is parsed leniently. Validation
uses the parsers here for Nomad's messages; the scheduler uses `version_matches`.
`compile_go_regexp` translates Go RE2 syntax to Python's `re` and reports Go's parse errors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

_SP = r"[\t\n\f\r ]*"
_VERSION_RAW = (
    r"v?([0-9]+(\.[0-9]+)*?)"
    r"(-([0-9]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)|(-?([A-Za-z\-~]+[0-9A-Za-z\-~]*(\.[0-9A-Za-z\-~]+)*)))?"
    r"(\+([0-9A-Za-z\-~]+(\.[0-9A-Za-z\-~]+)*))?"
    r"?"
)
_SEMVER_RAW = _VERSION_RAW.replace(r"(-?([A-Za-z", r"(-([A-Za-z")
_VERSION_RE = re.compile(r"\A" + _VERSION_RAW + r"\Z")
_SEMVER_RE = re.compile(r"\A" + _SEMVER_RAW + r"\Z")
_GO_VERSION_CONSTRAINT_RE = re.compile(
    rf"\A{_SP}(<=|>=|!=|~>|<|>|=|){_SP}({_VERSION_RAW}){_SP}\Z"
)
_SEMVER_CONSTRAINT_RE = re.compile(rf"\A{_SP}(<=|>=|!=|<|>|=|){_SP}({_SEMVER_RAW}){_SP}\Z")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Version:
    """Nomad: go-version Version (segments padded to three, `si` = segments given)."""

    segments: tuple[int, ...]
    si: int
    pre: str
    metadata: str

    def __str__(self) -> str:
        text = ".".join(str(s) for s in self.segments)
        text += f"-{self.pre}" if self.pre else ""
        return text + (f"+{self.metadata}" if self.metadata else "")


def _new_version(text: str, pattern: re.Pattern[str]) -> Version:
    m = pattern.match(text)
    if m is None:
        raise ValueError(f"malformed version: {text}")
    parts = m.group(1).split(".")
    for part in parts:
        if int(part) > _INT64_MAX:
            raise ValueError(
                f'error parsing version: strconv.ParseInt: parsing "{part}": value out of range'
            )
    segments = [int(p) for p in parts] + [0] * max(0, 3 - len(parts))
    return Version(tuple(segments), len(parts), m.group(7) or m.group(4) or "", m.group(10) or "")


def parse_version(text: str) -> Version:
    """Nomad: go-version NewVersion (lenient). Raises ValueError with go-version's message."""
    return _new_version(text, _VERSION_RE)


def parse_semver(text: str) -> Version:
    """Nomad: go-version NewSemver (a `-` must separate the prerelease)."""
    return _new_version(text, _SEMVER_RE)


def _is_int64(s: str) -> bool:
    """Whether Go's strconv.ParseInt(s, 10, 64) succeeds."""
    digits = s[1:] if s[:1] in ("+", "-") else s
    return digits.isascii() and digits.isdigit() and -_INT64_MAX - 1 <= int(s) <= _INT64_MAX


def _compare_part(a: str, b: str) -> int:
    if a == b:
        return 0
    a_num, b_num = _is_int64(a), _is_int64(b)
    if a == "":
        return -1 if b_num else 1
    if b == "":
        return 1 if a_num else -1
    if a_num and not b_num:
        return -1
    if b_num and not a_num:
        return 1
    if not a_num:
        return 1 if a > b else -1
    return 1 if int(a) > int(b) else -1


def _compare_pre(a: str, b: str) -> int:
    if a == b:
        return 0
    pa, pb = a.split("."), b.split(".")
    for i in range(max(len(pa), len(pb))):
        c = _compare_part(pa[i] if i < len(pa) else "", pb[i] if i < len(pb) else "")
        if c:
            return c
    return 0


def compare_versions(v: Version, o: Version) -> int:
    """Nomad: go-version Version.Compare (-1, 0, 1; metadata ignored)."""
    if str(v) == str(o):
        return 0
    if v.segments == o.segments:
        if v.pre == o.pre == "":
            return 0
        if v.pre == "":
            return 1
        if o.pre == "":
            return -1
        return _compare_pre(v.pre, o.pre)
    n = max(len(v.segments), len(o.segments))
    for i in range(n):
        if i >= len(v.segments):
            return 0 if not any(o.segments[i:]) else -1
        if i >= len(o.segments):
            return 0 if not any(v.segments[i:]) else 1
        if v.segments[i] != o.segments[i]:
            return -1 if v.segments[i] < o.segments[i] else 1
    return 0


def _prerelease_ok(v: Version, c: Version) -> bool:
    if c.pre and v.pre:
        return v.segments == c.segments
    return not (v.pre and not c.pre)


def _pessimistic(v: Version, c: Version) -> bool:
    if not _prerelease_ok(v, c) or (c.pre and not v.pre):
        return False
    if compare_versions(v, c) < 0:
        return False
    cs = len(c.segments)
    if cs > len(v.segments):
        return False
    if any(v.segments[i] != c.segments[i] for i in range(c.si - 1)):
        return False
    return c.segments[cs - 1] <= v.segments[cs - 1]


def _go_version_check(op: str, v: Version, c: Version) -> bool:
    if op in ("", "="):
        return compare_versions(v, c) == 0
    if op == "!=":
        return compare_versions(v, c) != 0
    if op == "~>":
        return _pessimistic(v, c)
    return _prerelease_ok(v, c) and _ordered(op, compare_versions(v, c))


def _ordered(op: str, cmp: int) -> bool:
    return {">": cmp == 1, "<": cmp == -1, ">=": cmp >= 0, "<=": cmp <= 0}.get(op, cmp == 0)


def _semver_check(op: str, v: Version, c: Version) -> bool:
    cmp = compare_versions(v, c)
    return cmp != 0 if op == "!=" else _ordered(op, cmp)


@functools.lru_cache(maxsize=4096)
def parse_version_constraint(text: str) -> tuple[tuple[str, Version], ...]:
    """Nomad: go-version NewConstraint. Raises ValueError("malformed constraint: ...")."""
    return _parse_constraint(text, _GO_VERSION_CONSTRAINT_RE, parse_version, "malformed")


@functools.lru_cache(maxsize=4096)
def parse_semver_constraint(text: str) -> tuple[tuple[str, Version], ...]:
    """Nomad: helper/constraints/semver NewConstraint ("Malformed constraint: ...")."""
    return _parse_constraint(text, _SEMVER_CONSTRAINT_RE, parse_semver, "Malformed")


def _parse_constraint(text: str, pattern: re.Pattern[str], parse: Callable[[str], Version],
                      malformed: str) -> tuple[tuple[str, Version], ...]:
    """Comma-separated (operator, version) pairs; `malformed` starts the ValueError message."""
    out = []
    for single in text.split(","):
        m = pattern.match(single)
        if m is None:
            raise ValueError(f"{malformed} constraint: {single}")
        out.append((m.group(1), parse(m.group(2))))
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def version_matches(constraint: str, version: str, strict_semver: bool) -> bool:
    """Whether a node's version satisfies a constraint; unparsable input never matches.

    Nomad: scheduler/feasible/feasible.go, checkVersionMatch (the version is parsed leniently
    for both operators; the constraint with go-version or, when strict_semver, the semver
    helper).
    """
    try:
        v = parse_version(str(version))
        if strict_semver:
            return all(_semver_check(op, v, c) for op, c in parse_semver_constraint(constraint))
        return all(_go_version_check(op, v, c) for op, c in parse_version_constraint(constraint))
    except ValueError:
        return False


# --- Go RE2 syntax -------------------------------------------------------------------------

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_PERL_UNSUPPORTED = ("(?=", "(?!", "(?<=", "(?<!", "(?P=", "(?#", "(?>", "(?|")
_PY_TO_GO_ERRORS = (
    ("missing ), unterminated subpattern", "missing closing )"),
    ("unbalanced parenthesis", "unexpected )"),
    ("unterminated character set", "missing closing ]"),
    ("nothing to repeat", "missing argument to repetition operator"),
    ("multiple repeat", "invalid nested repetition operator"),
    ("bad character range", "invalid character class range"),
    ("bad escape (end of pattern)", "trailing backslash at end of expression"),
    ("bad escape", "invalid escape sequence"),
    ("min repeat greater than max repeat", "invalid repeat count"),
)


def _go_error(code: str, frag: str) -> ValueError:
    return ValueError(f"error parsing regexp: {code}: `{frag}`")


def _translate_escape(expr: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape at expr[i] ('\\'); returns (python text, next index)."""
    if i + 1 >= len(expr):
        raise _go_error("trailing backslash at end of expression", "")
    c = expr[i + 1]
    if c in "123456789" or c in "ZGXRKgkhHNVl" or (c == "z" and in_class):
        raise _go_error("invalid escape sequence", expr[i : i + 2])
    if c == "z":
        return r"\Z", i + 2
    if c in "pP":
        end = expr.find("}", i) + 1 if expr[i + 2 : i + 3] == "{" else i + 3
        if end <= 0:
            raise _go_error("invalid character class range", expr[i:])
        name = expr[i + 2 : end].strip("{}")
        letters = name in ("L", "Letter")
        cls = ("\\w" if c == "p" else "\\W") if letters else "\\s\\S"
        return (cls if in_class else f"[{cls}]"), end
    return expr[i : i + 2], i + 2


def _translate_class(expr: str, i: int) -> tuple[str, int]:
    """Translate a bracketed class starting at expr[i] ('[')."""
    out, j = ["["], i + 1
    if expr[j : j + 1] == "^":
        out.append("^")
        j += 1
    if expr[j : j + 1] == "]":
        out.append("\\]")
        j += 1
    while j < len(expr) and expr[j] != "]":
        if expr.startswith("[:", j):
            end = expr.find(":]", j)
            name = expr[j + 2 : end].lstrip("^") if end > 0 else ""
            if end < 0 or name not in _POSIX_CLASSES:
                raise _go_error("invalid character class range", expr[j : end + 2 if end > 0 else None])
            out.append(_POSIX_CLASSES[name])
            j = end + 2
        elif expr[j] == "\\":
            text, j = _translate_escape(expr, j, True)
            out.append(text)
        else:
            out.append("\\[" if expr[j] == "[" else expr[j])
            j += 1
    if j >= len(expr):
        raise _go_error("missing closing ]", expr[i:])
    return "".join(out) + "]", j + 1


def _translate(expr: str) -> str:
    out, i = [], 0
    while i < len(expr):
        c = expr[i]
        if c == "\\":
            text, i = _translate_escape(expr, i, False)
        elif c == "[":
            text, i = _translate_class(expr, i)
        elif c == "$":
            text, i = (r"\Z" if "(?m" not in expr else "$"), i + 1
        elif expr.startswith("(?", i):
            bad = next((p for p in _PERL_UNSUPPORTED if expr.startswith(p, i)), None)
            if bad:
                raise _go_error("invalid or unsupported Perl syntax", bad)
            text, i = ("(?P<", i + 3) if expr.startswith("(?<", i) else ("(?", i + 2)
        else:
            text, i = c, i + 1
        out.append(text)
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def compile_go_regexp(expr: str) -> re.Pattern[str]:
    """Compile a Go (RE2) regular expression; raise ValueError with Go's message on failure.

    Nomad: Go standard library, regexp.Compile (messages: "error parsing regexp: <code>:
    `<fragment>`"). Best effort: common syntax errors map to Go's codes and fragments.
    """
    py = _translate(expr)
    try:
        return re.compile(py)
    except (re.error, OverflowError, RecursionError) as err:
        msg = str(err)
        for py_msg, go_code in _PY_TO_GO_ERRORS:
            if msg.startswith(py_msg):
                raise _go_error(go_code, _fragment(go_code, expr, msg, err)) from None
        raise ValueError(f"error parsing regexp: {msg}: `{expr}`") from None


def _fragment(go_code: str, expr: str, msg: str, err: Exception) -> str:
    """The part of the expression Go quotes for an error code (positions are approximate)."""
    pos = getattr(err, "pos", None)
    if "paren" in go_code or ")" in go_code or pos is None or pos >= len(expr):
        return expr
    if go_code.startswith("missing argument"):
        return expr[pos : expr.find("}", pos) + 1] if expr[pos] == "{" else expr[pos]
    if go_code.startswith("invalid nested"):
        return expr[max(pos - 1, 0) : pos + 1]
    if go_code.startswith("invalid character class range"):
        return msg.removeprefix("bad character range ").split(" at position")[0]
    if go_code.startswith("invalid escape"):
        return expr[pos : pos + 2]
    if go_code.startswith("invalid repeat"):
        return expr[expr.rfind("{", 0, pos + 1) : expr.find("}", pos) + 1]
    return expr[pos:]
