"""Strict requests: check API parameters against botocore's service model as AWS would.

botocore's ``ParamValidator`` checks types, required members and ``min``
only; AWS also rejects a value outside its member's ``enum``, over its
``max`` (string length, list members, map entries, blob bytes, numeric
value) or off its ``pattern``.  The e2e suite runs this checker inside the
CLI subprocess (see ``sitecustomize.py``) on every request the tool sends,
so the sandbox (moto, which checks almost none of this) is not the only
judge.

Patterns are Java regular expressions (AWS validates with Java's
``java.util.regex``, whole-value match as ``String.matches``): this module
translates them into Python ``re``.  Java's Unicode and POSIX classes
(``\\p{L}``, ``\\P{C}``, ``\\p{Print}``, class intersection ``&&``,
surrogate pairs ``\\uD800\\uDC00``) have no ``re`` syntax; the translation
evaluates every character class as a set of characters over a finite
*universe*: all of ASCII plus the characters of the value being checked.
A regex can only ever test the characters of its input, so the result is
exact, and the compiled pattern is cached per (pattern, non-ASCII
characters of the value), which is one entry per pattern in practice.
A pattern that cannot be translated raises :class:`UncheckedPattern`;
the checker reports it as ``unchecked`` (listed, never silently passed).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ASCII = frozenset(chr(c) for c in range(128))

# Member names whose values are never printed, even when the model does not
# mark the shape ``sensitive`` (conservative: SecretId is not a secret).
_SECRET_NAME = re.compile(r"pass(word|phrase)|secret|token|credential|private|signature"
                          r"|auth|userdata|keymaterial|certificatebody|plaintext", re.I)


class UncheckedPattern(Exception):
    """A Java construct this translator does not implement: the pattern stays unchecked."""


# --- Java character properties, as predicates on one character --------------------------

_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_JAVA_SPACE = frozenset(" \t\n\x0b\f\r")  # \s and \p{Space}: ASCII only in Java
_WHITE_SPACE = frozenset("\t\n\x0b\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                         + "".join(chr(c) for c in range(0x2000, 0x200B)))
_H_SPACE = frozenset(" \t\xa0\u1680\u180e\u202f\u205f\u3000"
                     + "".join(chr(c) for c in range(0x2000, 0x200B)))
_V_SPACE = frozenset("\n\x0b\f\r\x85\u2028\u2029")
_LINE_END = "\n\r\x85\u2028\u2029"


def _ascii(test: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda c: c < "\x80" and test(c)


# Java's POSIX classes are US-ASCII only unless UNICODE_CHARACTER_CLASS is set
# (java.util.regex.Pattern, "POSIX character classes (US-ASCII only)").
_POSIX: dict[str, Callable[[str], bool]] = {
    "Lower": _ascii(str.islower),
    "Upper": _ascii(str.isupper),
    "ASCII": lambda c: c < "\x80",
    "Alpha": _ascii(str.isalpha),
    "Digit": _ascii(str.isdigit),
    "Alnum": _ascii(str.isalnum),
    "Punct": lambda c: c in _PUNCT,
    "Graph": lambda c: (c < "\x80" and c.isalnum()) or c in _PUNCT,
    "Print": lambda c: (c < "\x80" and c.isalnum()) or c in _PUNCT or c == " ",
    "Blank": lambda c: c in " \t",
    "Cntrl": lambda c: c < " " or c == "\x7f",
    "XDigit": lambda c: c in "0123456789abcdefABCDEF",
    "Space": lambda c: c in _JAVA_SPACE,
    "all": lambda c: True,
    "L1": lambda c: c < "\u0100",
    "LD": lambda c: unicodedata.category(c)[0] == "L" or unicodedata.category(c) == "Nd",
}

# Unicode binary properties (\p{IsAlphabetic}); Python's unicodedata has no
# property table, so these are the closest category-based definitions.
_BINARY: dict[str, Callable[[str], bool]] = {
    "Alphabetic": lambda c: c.isalpha() or unicodedata.category(c) == "Nl",
    "Letter": lambda c: unicodedata.category(c)[0] == "L",
    "Digit": lambda c: unicodedata.category(c) == "Nd",
    "Whitespace": lambda c: c in _WHITE_SPACE,
    "White_Space": lambda c: c in _WHITE_SPACE,
    "Uppercase": str.isupper,
    "Lowercase": str.islower,
    "Punctuation": lambda c: unicodedata.category(c)[0] == "P",
    "Control": lambda c: unicodedata.category(c) == "Cc",
}

_CATEGORIES = {"L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No",
               "P", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So",
               "Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf", "Cs", "Co", "Cn"}


def _category(name: str) -> Callable[[str], bool]:
    if len(name) == 1:
        return lambda c: unicodedata.category(c)[0] == name
    return lambda c: unicodedata.category(c) == name


def _property(name: str) -> Callable[[str], bool]:
    """The predicate for ``\\p{name}`` as java.util.regex defines it."""
    for prefix in ("gc=", "general_category="):
        if name.startswith(prefix) and name[len(prefix):] in _CATEGORIES:
            return _category(name[len(prefix):])
    if name in _CATEGORIES:
        return _category(name)
    if name in _POSIX:
        return _POSIX[name]
    if name.startswith("Is"):
        rest = name[2:]
        if rest in _CATEGORIES:
            return _category(rest)
        if rest in _BINARY:
            return _BINARY[rest]
    raise UncheckedPattern(f"unsupported property \\p{{{name}}}")


# --- the translator -------------------------------------------------------------------------

_QUANTIFIABLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "a": "\a", "e": "\x1b"}


def _emit_set(chars: Iterable[str]) -> str:
    """A Python class matching exactly ``chars`` (a class matching nothing when empty)."""
    points = sorted({ord(c) for c in chars})
    if not points:
        return "[^\\x00-\\U0010ffff]"
    parts: list[str] = []
    start = prev = points[0]
    for point in [*points[1:], -2]:
        if point == prev + 1:
            prev = point
            continue
        parts.append(_esc(start) if start == prev else f"{_esc(start)}-{_esc(prev)}")
        start = prev = point
    return "[" + "".join(parts) + "]"


def _esc(point: int) -> str:
    char = chr(point)
    if char.isascii() and char.isalnum():
        return char
    return f"\\x{point:02x}" if point < 0x100 else (
        f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}")


class _Translator:
    """One pass over a Java pattern, producing Python ``re`` source."""

    def __init__(self, pattern: str, universe: frozenset[str]) -> None:
        self.src = pattern
        self.pos = 0
        self.universe = universe
        self.out: list[str] = []
        # One entry per open group: (extra ")" to close for mid-group inline
        # flags, DOTALL in force before the group).
        self.groups: list[tuple[int, bool]] = []
        self.pending_closes = 0
        self.dotall = False

    # helpers
    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.src[index] if index < len(self.src) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise UncheckedPattern("unexpected end of pattern")
        self.pos += 1
        return char

    def select(self, test: Callable[[str], bool]) -> frozenset[str]:
        return frozenset(c for c in self.universe if test(c))

    def translate(self) -> str:
        while self.pos < len(self.src):
            self.atom()
        if self.groups:
            raise UncheckedPattern("unbalanced parenthesis")
        self.out.append(")" * self.pending_closes)
        return "".join(self.out)

    def atom(self) -> None:
        char = self.take()
        if char == "\\":
            self.out.append(self.escape_outside())
        elif char == "[":
            self.out.append(_emit_set(self.char_class()))
        elif char == ".":
            self.out.append("(?s:.)" if self.dotall else "[^\\n\\r\\x85\\u2028\\u2029]")
        elif char == "(":
            self.group()
        elif char == ")":
            if not self.groups:
                raise UncheckedPattern("unbalanced parenthesis")
            closes, self.dotall = self.groups.pop()
            self.out.append(")" * (self.pending_closes + 1))
            self.pending_closes = closes
        else:
            self.out.append(char)

    def group(self) -> None:
        if self.peek() != "?":
            self.open_group("(")
            return
        self.pos += 1
        nxt = self.peek()
        if nxt in ":=!>":
            self.pos += 1
            self.open_group("(?" + nxt)
        elif nxt == "<" and self.peek(1) in "=!":
            self.pos += 2
            self.open_group("(?<" + self.src[self.pos - 1])
        elif nxt == "<":
            end = self.src.index(">", self.pos)
            name = self.src[self.pos + 1:end]
            self.pos = end + 1
            self.open_group(f"(?P<{name}>")
        else:
            self.inline_flags()

    def open_group(self, text: str) -> None:
        self.groups.append((self.pending_closes, self.dotall))
        self.pending_closes = 0
        self.out.append(text)

    def inline_flags(self) -> None:
        match = re.compile(r"([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])").match(self.src, self.pos)
        if not match:
            raise UncheckedPattern("unsupported group construct")
        on, off, end = match.group(1), match.group(2) or "", match.group(3)
        if set(on + off) - set("ism"):
            raise UncheckedPattern(f"unsupported inline flags (?{on}-{off})")
        self.pos = match.end()
        flags = on + (f"-{off}" if off else "")
        dotall = ("s" in on) or (self.dotall and "s" not in off)
        if end == ":":
            self.open_group(f"(?{flags}:")
            self.dotall = dotall
        else:
            # Java applies (?i) from here to the end of the enclosing group;
            # Python only accepts global flags at the start, so scope it.
            self.out.append(f"(?{flags}:")
            self.pending_closes += 1
            self.dotall = dotall

    def code_point(self, first: int) -> int:
        """Combine a UTF-16 surrogate pair (Java reads ``\\uD83D\\uDE00`` as one character)."""
        if 0xD800 <= first <= 0xDBFF and self.src.startswith("\\u", self.pos):
            low = int(self.src[self.pos + 2:self.pos + 6], 16)
            if 0xDC00 <= low <= 0xDFFF:
                self.pos += 6
                return 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
        return first

    def literal_escape(self, char: str) -> int | None:
        """The code point of a single-character escape (after the backslash), or None."""
        if char in _QUANTIFIABLE_ESCAPES:
            return ord(_QUANTIFIABLE_ESCAPES[char])
        if char == "u":
            digits = self.src[self.pos:self.pos + 4]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                raise UncheckedPattern("bad \\u escape")
            self.pos += 4
            return self.code_point(int(digits, 16))
        if char == "x":
            if self.peek() == "{":
                end = self.src.index("}", self.pos)
                point = int(self.src[self.pos + 1:end], 16)
                self.pos = end + 1
                return point
            digits = self.src[self.pos:self.pos + 2]
            self.pos += 2
            return int(digits, 16)
        if char == "0":
            match = re.compile(r"[0-3]?[0-7]{1,2}").match(self.src, self.pos)
            if not match:
                raise UncheckedPattern("bad octal escape")
            self.pos = match.end()
            return int(match.group(), 8)
        if char == "c":
            return ord(self.take()) ^ 0x40
        if not char.isalnum():
            return ord(char)
        return None

    def class_escape(self, char: str) -> frozenset[str] | None:
        """The set for an escape that denotes a class (``\\p{L}``, ``\\s``), or None."""
        if char in "pP":
            if self.peek() == "{":
                end = self.src.index("}", self.pos)
                name = self.src[self.pos + 1:end]
                self.pos = end + 1
            else:
                name = self.take()
            test = _property(name)
            chosen = self.select(test)
            return chosen if char == "p" else self.universe - chosen
        simple: dict[str, Callable[[str], bool]] = {
            "d": lambda c: "0" <= c <= "9",
            "w": lambda c: c.isascii() and (c.isalnum() or c == "_"),
            "s": lambda c: c in _JAVA_SPACE,
            "h": lambda c: c in _H_SPACE,
            "v": lambda c: c in _V_SPACE,
        }
        if char.lower() in simple:
            chosen = self.select(simple[char.lower()])
            return chosen if char.islower() else self.universe - chosen
        return None

    def escape_outside(self) -> str:
        char = self.take()
        if char in "dDwWsSbBA" or (char.isdigit() and char != "0"):
            return "\\" + char  # compiled with re.ASCII: Java's ASCII \d \w \s
        if char == "z":
            return "\\Z"
        if char == "Z":
            return "(?=(?:\\r\\n|[\\n\\r\\x85\\u2028\\u2029])?\\Z)"
        if char == "R":
            return "(?:\\r\\n|[\\n\\x0b\\f\\r\\x85\\u2028\\u2029])"
        if char == "Q":
            end = self.src.find("\\E", self.pos)
            end = len(self.src) if end < 0 else end
            text = self.src[self.pos:end]
            self.pos = min(len(self.src), end + 2)
            return re.escape(text)
        chosen = self.class_escape(char)
        if chosen is not None:
            return _emit_set(chosen)
        point = self.literal_escape(char)
        if point is None:
            raise UncheckedPattern(f"unsupported escape \\{char}")
        return _emit_set({chr(point)}) if point > 0x7F or not chr(point).isalnum() else chr(point)

    def char_class(self) -> frozenset[str]:
        """Parse a Java class body after ``[``, up to and including its ``]``."""
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        members = self.class_union(first=True)
        if self.take() != "]":
            raise UncheckedPattern("unterminated character class")
        return self.universe - members if negate else members

    def class_union(self, first: bool) -> frozenset[str]:
        members: set[str] = set()
        while True:
            char = self.peek()
            if not char:
                raise UncheckedPattern("unterminated character class")
            if char == "]" and not first:
                return frozenset(members)
            first = False
            if self.src.startswith("&&", self.pos):
                self.pos += 2
                return frozenset(members) & self.class_union(first=False)
            self.pos += 1
            if char == "[":
                members |= self.char_class()
                continue
            low: int | None
            if char == "\\":
                escaped = self.take()
                if escaped == "Q":
                    end = self.src.find("\\E", self.pos)
                    end = len(self.src) if end < 0 else end
                    members |= set(self.src[self.pos:end])
                    self.pos = min(len(self.src), end + 2)
                    continue
                chosen = self.class_escape(escaped)
                if chosen is not None:
                    members |= chosen  # a '-' after a class escape is a literal
                    continue
                low = self.literal_escape(escaped)
                if low is None:
                    raise UncheckedPattern(f"unsupported escape \\{escaped} in class")
            else:
                low = ord(char)
            if self.peek() == "-" and self.peek(1) not in ("]", "[", ""):
                self.pos += 1
                high_char = self.take()
                high: int | None = ord(high_char)
                if high_char == "\\":
                    escaped = self.take()
                    if self.class_escape_follows(escaped):
                        raise UncheckedPattern("range ending in a class escape")
                    high = self.literal_escape(escaped)
                if high is None or high < low:
                    raise UncheckedPattern("bad character range")
                members |= {c for c in self.universe if low <= ord(c) <= high}
            else:
                members.add(chr(low))

    @staticmethod
    def class_escape_follows(escaped: str) -> bool:
        return escaped in "pPdDwWsShHvV"


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str, extra: frozenset[str]) -> re.Pattern[str]:
    universe = ASCII | extra
    try:
        source = _Translator(pattern, universe).translate()
    except (ValueError, IndexError) as error:  # str.index / int() on a malformed construct
        raise UncheckedPattern(f"malformed construct: {error}") from None
    try:
        return re.compile(source, re.ASCII)
    except (re.error, OverflowError, RecursionError) as error:
        raise UncheckedPattern(f"Python re cannot compile the translation: {error}") from None


def translate(pattern: str, sample: str = "") -> str:
    """The Python ``re`` source for Java ``pattern``: exact for values of ASCII and ``sample``."""
    return _compile(pattern, frozenset(c for c in sample if c > "\x7f")).pattern


def java_matches(pattern: str, value: str) -> bool:
    """Java's ``value.matches(pattern)``: the whole value must match.

    Raises :class:`UncheckedPattern` when the pattern cannot be translated.
    """
    compiled = _compile(pattern, frozenset(c for c in value if c > "\x7f"))
    return compiled.fullmatch(value) is not None


# --- the checker ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Violation:
    """One constraint a request breaks; ``message`` never holds a secret value."""

    operation: str
    path: str
    rule: str  # enum | max | min | pattern | unchecked-pattern
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"operation": self.operation, "path": self.path, "rule": self.rule,
                "message": self.message}


def _generic(path: str) -> str:
    """``Op.Tags[3].Key`` -> ``Op.Tags[*].Key``: how allow-list entries name a member."""
    return re.sub(r"\[(\d+|'(?:[^'\\]|\\.)*'|\"[^\"]*\"|<key>)\]", "[*]", path)


def _is_secret(shape: Any, name: str) -> bool:
    return bool(shape.metadata.get("sensitive")) or bool(_SECRET_NAME.search(name))


def _show(value: str, secret: bool) -> str:
    if secret:
        return f"<redacted, {len(value)} chars>"
    return repr(value if len(value) <= 80 else value[:77] + "...")


class _Walk:
    def __init__(self, operation: str, allow: Callable[[str, str], bool]) -> None:
        self.operation = operation
        self.allow = allow
        self.found: list[Violation] = []

    def add(self, path: str, rule: str, message: str) -> None:
        if not self.allow(_generic(path), rule):
            self.found.append(Violation(self.operation, path, rule, f"{path}: {message}"))

    def value(self, shape: Any, value: Any, path: str, secret: bool) -> None:
        kind = shape.type_name
        meta = shape.metadata
        if meta.get("document"):
            return
        if kind == "structure" and isinstance(value, Mapping):
            for name, member in value.items():
                if name in shape.members:
                    sub = shape.members[name]
                    self.value(sub, member, f"{path}.{name}", secret or _is_secret(sub, name))
        elif kind == "list" and isinstance(value, Sequence) and not isinstance(value, str):
            self.size(meta, len(value), path, "items")
            for index, item in enumerate(value):
                self.value(shape.member, item, f"{path}[{index}]",
                           secret or _is_secret(shape.member, ""))
        elif kind == "map" and isinstance(value, Mapping):
            self.size(meta, len(value), path, "entries")
            for key, item in value.items():
                key_path = f"{path}[{key!r}]" if not secret else f"{path}[<key>]"
                self.value(shape.key, key, f"{key_path}(key)", secret)
                self.value(shape.value, item, key_path, secret or _is_secret(shape.value, ""))
        elif kind == "string" and isinstance(value, str):
            self.string(shape, value, path, secret)
        elif kind == "blob" and isinstance(value, str | bytes | bytearray):
            data = value.encode() if isinstance(value, str) else value
            self.size(meta, len(data), path, "bytes")
        elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float) \
                and not isinstance(value, bool):
            if "max" in meta and value > meta["max"]:
                self.add(path, "max", f"{value} > max {meta['max']}")
            if "min" in meta and value < meta["min"]:
                self.add(path, "min", f"{value} < min {meta['min']}")

    def size(self, meta: Mapping[str, Any], size: int, path: str, unit: str) -> None:
        if "max" in meta and size > meta["max"]:
            self.add(path, "max", f"{size} {unit} > max {meta['max']}")
        if "min" in meta and size < meta["min"]:
            self.add(path, "min", f"{size} {unit} < min {meta['min']}")

    def string(self, shape: Any, value: str, path: str, secret: bool) -> None:
        self.size(shape.metadata, len(value), path, "chars")
        enum = shape.enum
        if enum and value not in enum:
            listed = ", ".join(enum[:12]) + (", ..." if len(enum) > 12 else "")
            self.add(path, "enum", f"{_show(value, secret)} not in enum [{listed}]")
        pattern = shape.metadata.get("pattern")
        if pattern is None:
            return
        try:
            matched = java_matches(pattern, value)
        except UncheckedPattern as why:
            self.add(path, "unchecked-pattern", f"pattern {pattern!r} not checked: {why}")
            return
        if not matched:
            self.add(path, "pattern", f"{_show(value, secret)} ({len(value)} chars) does not "
                                      f"match pattern {pattern!r}")


def check_request(operation_model: Any, params: Mapping[str, Any],
                  allow: Callable[[str, str], bool] | None = None) -> list[Violation]:
    """Every enum, min/max and pattern violation in ``params`` for ``operation_model``.

    ``params`` are the parameters as botocore holds them before serialisation
    (after its own handlers, e.g. idempotency tokens and Route 53 id
    trimming).  ``allow(path, rule)`` may accept a known model error; it
    gets the path with list indices and map keys as ``[*]``.
    """
    shape = operation_model.input_shape
    walk = _Walk(operation_model.name, allow or (lambda _path, _rule: False))
    if shape is not None:
        walk.value(shape, params, operation_model.name, False)
    return walk.found


# Where botocore's model is stricter than what AWS accepts: (member path with
# ``[*]`` for indices and keys, rule) -> the evidence.  Data, not code; empty
# until a model error is shown.
ALLOWED: dict[tuple[str, str], str] = {}


def allowed(path: str, rule: str) -> bool:
    """The allow-list lookup ``check_request`` takes (see :data:`ALLOWED`)."""
    return (path, rule) in ALLOWED
