"""Nomad's `?filter=` expressions (hashicorp/go-bexpr) over the JSON form of listed objects.

Grammar: `or`, `and`, `not`, parentheses; matches `Sel == V`, `Sel != V`, `V in Sel`, `V not in Sel`,
`Sel contains V`, `Sel not contains V`, `Sel is empty`, `Sel is not empty`, `Sel matches "re"`,
`Sel not matches "re"`. A selector is a dotted path (`TaskStates.web.State`); values are
"double-quoted", `backquoted`, numbers, true/false or bare words. Values are compared as the
selected field's type (go-bexpr coerces the literal). Nomad wraps a parse error as
`failed to read filter expression: ...` and an unknown field as `error finding value in datum`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<op>==|!=|\(|\))'
                    r'|(?P<word>[A-Za-z0-9_./\-\[\]*:@+]+))')
_KEYWORDS = {"and", "or", "not", "in", "contains", "is", "empty", "matches"}


class FilterError(ValueError):
    """A filter that does not parse, or names a field the object does not have."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"1:{pos + 1} ({pos}): no match found, expected: {text[pos:pos + 10]!r} is not valid")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "raw":
            value, kind = value[1:-1], "str"
        elif kind == "word" and value in _KEYWORDS:
            kind = "kw"
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, n: int = 0) -> tuple[str, str]:
        j = self.i + n
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, kind: str, value: str | None = None) -> str:
        k, v = self.take()
        if k != kind or (value is not None and v != value):
            raise FilterError(f"unexpected {v or 'end of input'!r} in {self.text!r}")
        return v

    def parse(self) -> Predicate:
        if not self.toks:
            raise FilterError("empty filter expression")
        pred = self.or_()
        if self.peek()[0] != "end":
            raise FilterError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return pred

    def or_(self) -> Predicate:
        preds = [self.and_()]
        while self.peek() == ("kw", "or"):
            self.take()
            preds.append(self.and_())
        return preds[0] if len(preds) == 1 else (lambda o: any(p(o) for p in preds))

    def and_(self) -> Predicate:
        preds = [self.not_()]
        while self.peek() == ("kw", "and"):
            self.take()
            preds.append(self.not_())
        return preds[0] if len(preds) == 1 else (lambda o: all(p(o) for p in preds))

    def not_(self) -> Predicate:
        if self.peek() == ("kw", "not") and self.peek(1)[1] not in ("in", "contains", "matches"):
            self.take()
            inner = self.not_()
            return lambda o: not inner(o)
        return self.match()

    def value(self) -> str:
        kind, value = self.take()
        if kind not in ("str", "word"):
            raise FilterError(f"expected a value, found {value or 'end of input'!r} in {self.text!r}")
        return value

    def match(self) -> Predicate:
        if self.peek() == ("op", "("):
            self.take()
            inner = self.or_()
            self.expect("op", ")")
            return inner
        value_first = self.peek(1) == ("kw", "in") or self.peek(1) == ("kw", "not") and self.peek(2) == ("kw", "in")
        if self.peek()[0] == "str" or value_first:
            value = self.value()
            negate = self.peek() == ("kw", "not")
            if negate:
                self.take()
            self.expect("kw", "in")
            sel = self.selector()
            return _negated(lambda o: _contains(select(o, sel), value), negate)
        sel = self.selector()
        kind, op = self.take()
        if op in ("==", "!="):
            value = self.value()
            return _negated(lambda o: _equal(select(o, sel), value), op == "!=")
        if op == "is":
            negate = self.peek() == ("kw", "not")
            if negate:
                self.take()
            self.expect("kw", "empty")
            return _negated(lambda o: _empty(select(o, sel)), negate)
        negate = op == "not"
        if negate:
            kind, op = self.take()
        if op == "contains":
            value = self.value()
            return _negated(lambda o: _contains(select(o, sel), value), negate)
        if op == "matches":
            try:
                pattern = re.compile(self.value())
            except re.error as exc:
                raise FilterError(f"invalid regular expression: {exc}") from None
            return _negated(lambda o: isinstance(v := select(o, sel), str) and bool(pattern.search(v)), negate)
        raise FilterError(f"unexpected {op or 'end of input'!r} after selector in {self.text!r}")

    def selector(self) -> list[str]:
        kind, value = self.take()
        if kind != "word" or not value[:1].isalpha():
            raise FilterError(f"expected a selector, found {value or 'end of input'!r} in {self.text!r}")
        return value.split(".")


def _negated(pred: Predicate, negate: bool) -> Predicate:
    return (lambda o: not pred(o)) if negate else pred


class _Missing:
    """A map key the object does not have (matches nothing)."""


MISSING = _Missing()


def select(obj: dict[str, Any], path: list[str]) -> Any:
    """The value at a selector; an unknown top-level field is an error, a missing map key MISSING."""
    value: Any = obj
    for depth, part in enumerate(path):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif depth == 0:
            raise FilterError(f'error finding value in datum: /{"/".join(path)} at part 0: '
                              f'couldn\'t find key: struct field with name "{part}"')
        else:
            return MISSING
    return value


def _coerce(field: Any, literal: str) -> Any:
    if isinstance(field, bool):
        return {"true": True, "false": False}.get(literal.lower(), literal)
    if isinstance(field, int | float):
        try:
            return type(field)(literal)
        except ValueError:
            return literal
    return literal


def _equal(field: Any, literal: str) -> bool:
    if field is MISSING:
        return False
    if field is None:
        return literal == ""
    return field == _coerce(field, literal)


def _contains(field: Any, literal: str) -> bool:
    if isinstance(field, str):
        return literal in field
    if isinstance(field, dict):
        return literal in field
    if isinstance(field, list):
        return any(_equal(item, literal) for item in field)
    return False


def _empty(field: Any) -> bool:
    return field is None or field is MISSING or (isinstance(field, str | list | dict) and len(field) == 0)


def compile_filter(text: str) -> Predicate:
    """A predicate over an object's JSON form. Raises FilterError for an expression that does not parse."""
    return _Parser(text).parse()
