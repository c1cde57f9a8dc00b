"""Version, semver and regexp matching behind constraint operators (sim.structs.versions)."""

from __future__ import annotations

import pytest

from sim.structs.versions import (
    compile_go_regexp,
    parse_semver_constraint,
    parse_version_constraint,
    version_matches,
)

GO_VERSION_CASES = [
    (">= 1.0, < 1.2", "1.1.5", True), ("< 1.0, < 1.2", "1.1.5", False), ("= 1.0", "1.1.5", False),
    ("= 1.0", "1.0.0", True), ("1.0", "1.0.0", True), ("~> 1.0", "2.0", False), ("~> 1.0", "1.1", True),
    ("~> 1.0", "1.2.3", True), ("~> 1.0.0", "1.2.3", False), ("~> 1.0.0", "1.0.7", True),
    ("~> 1.0.0", "1.1.0", False), ("~> 1.0.7", "1.0.4", False), ("~> 1.0.7", "1.0.7", True),
    ("~> 1.0.7", "1.0.8", True), ("~> 1.0.7", "1.0.7.5", True), ("~> 1.0.7", "1.0.6.99", False),
    ("~> 1.0.7", "1.0.8.0", True), ("~> 1.0.9.5", "1.0.9.5", True), ("~> 1.0.9.5", "1.0.9.4", False),
    ("~> 1.0.9.5", "1.0.9.6", True), ("~> 1.0.9.5", "1.0.9.5.0", True), ("~> 1.0.9.5", "1.0.9.5.1", True),
    ("~> 2.0", "2.1.0-beta", False), ("~> 2.1.0-a", "2.2.0", False), ("~> 2.1.0-a", "2.1.0", False),
    ("~> 2.1.0-a", "2.1.0-beta", True), ("~> 2.1.0-a", "2.2.0-alpha", False), ("> 2.0", "2.1.0-beta", False),
    (">= 2.1.0-a", "2.1.0-beta", True), (">= 2.1.0-a", "2.1.1-beta", False), (">= 2.0.0", "2.1.0-beta", False),
    (">= 2.1.0-a", "2.1.1", True), (">= 2.1.0-a", "2.1.0", True), ("<= 2.1.0-a", "2.0.0", True),
    # Nomad: scheduler/feasible/feasible_test.go TestCheckVersionConstraint
    ("~> 1.0", "1.2.3", True), (">= 1.0, < 1.4", "1.4", False), ("~> 1.0", "1", True),
    (">= 0.6.1", "1.3.0-beta1", False), (">= 1.6.0-beta1", "1.7.0-alpha1", False),
    ("= 1.3.0-beta1", "1.3.0-beta1+ent", True),
]


@pytest.mark.parametrize("constraint,version,expected", GO_VERSION_CASES)
def test_version_operator(constraint, version, expected):
    """hashicorp/go-version constraint_test.go TestConstraintCheck and Nomad's feasible tests."""
    assert version_matches(constraint, version, strict_semver=False) is expected


SEMVER_CASES = [
    # Nomad: scheduler/feasible/feasible_test.go TestCheckSemverConstraint
    ("~> 1.0", "1.2.3", False), (">= 1.0, < 1.4", "1.2.3", True), ("~> 1.0", "2.0.1", False),
    (">= 1.0, < 1.4", "1.4", False), ("~> 1.0", "1", False), (">= 0.6.1", "1.3.0-beta1", True),
    (">= 1.6.0-beta1", "1.7.0-alpha1", True), (">= 1.7.0", "1.7.0-beta", False), (">= 1.7.0-dev", "1.7.0", True),
    (">= 1.7.0-a", "1.7.0-beta.1", True), (">= 1.7.0-dev", "1.7.0-rc.1", True), ("= 1.3.0-beta1", "1.3.0-beta1+ent", True),
    # Nomad: helper/constraints/semver/constraints_test.go TestConstraintCheck
    ("> 10", "8", False), ("> 2.1.0-a", "2.1.1-beta", True), ("> 1.0-beta1", "1.0-rc1", True),
    ("> 1.3.0-beta1+cgo", "1.3.0-beta1+ent", False), ("= 1.3.0-beta1+cgo", "1.3.0-beta1+ent", True),
]


@pytest.mark.parametrize("constraint,version,expected", SEMVER_CASES)
def test_semver_operator(constraint, version, expected):
    """Semver 2.0 ordering; the pessimistic operator never matches."""
    assert version_matches(constraint, version, strict_semver=True) is expected


@pytest.mark.parametrize("constraint", [">= 1.x", "~>", "a.b", "1.0,", "11387778780781445675529500000000000000000"])
def test_unparsable_constraints_never_match(constraint):
    """A constraint that does not parse matches nothing (Nomad: parser returns nil)."""
    assert version_matches(constraint, "1.0.0", strict_semver=False) is False


def test_unparsable_version_never_matches():
    """A node value that is not a version matches nothing."""
    assert version_matches(">= 1.0", "banana", strict_semver=True) is False


@pytest.mark.parametrize("text,message", [
    (">= 1.x", "malformed constraint: >= 1.x"),
    ("11387778780781445675529500000000000000000",
     'error parsing version: strconv.ParseInt: parsing "11387778780781445675529500000000000000000": value out of range'),
])
def test_version_constraint_errors(text, message):
    """go-version's parse errors, as Nomad's validation prints them."""
    with pytest.raises(ValueError) as info:
        parse_version_constraint(text)
    assert str(info.value) == message


@pytest.mark.parametrize("text", ["~> 1.0", ">= 1.0beta1", ">= 1.x"])
def test_semver_constraint_errors(text):
    """Nomad's semver helper rejects ~>, missing prerelease separators and wildcards."""
    with pytest.raises(ValueError, match=f"^Malformed constraint: {text.replace('.', '[.]')}$"):
        parse_semver_constraint(text)


@pytest.mark.parametrize("expr,message", [
    ("(abc", "error parsing regexp: missing closing ): `(abc`"),
    ("abc)", "error parsing regexp: unexpected ): `abc)`"),
    ("[a-", "error parsing regexp: missing closing ]: `[a-`"),
    ("*a", "error parsing regexp: missing argument to repetition operator: `*`"),
    ("(?=x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
    ("a\\1", "error parsing regexp: invalid escape sequence: `\\1`"),
    ("a\\", "error parsing regexp: trailing backslash at end of expression: ``"),
])
def test_go_regexp_errors(expr, message):
    """Go RE2 parse errors are reported with Go's text (regexp/syntax error codes)."""
    with pytest.raises(ValueError) as info:
        compile_go_regexp(expr)
    assert str(info.value) == message


@pytest.mark.parametrize("expr,text,matches", [
    ("^linux$", "linux", True), ("^linux$", "linux\n", False), ("nux", "linux", True),
    ("[[:digit:]]+", "abc123", True), ("(?P<n>a)b", "ab", True), ("(?<n>a)b", "ab", True),
    ("a\\z", "a", True),
])
def test_go_regexp_semantics(expr, text, matches):
    """Go syntax translated to Python keeps RE2's unanchored search and end-of-text `$`."""
    assert bool(compile_go_regexp(expr).search(text)) is matches
