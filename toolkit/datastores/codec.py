"""The canonical encoding of keys and values for persistent data stores.

A value is stored as JSON text. JSON-able values (``str``, ``int``, ``float``, ``bool``,
``None``, ``list``, ``dict`` with ``str`` keys) are written as plain JSON; the other supported
types are written as a one-key object whose key starts with ``$``:

=================  ===========================================================
type               encoding
=================  ===========================================================
``tuple``          ``{"$tuple": [...]}``
``bytes``          ``{"$bytes": "<base64>"}``
``float`` nan/inf  ``{"$float": "nan" | "inf" | "-inf"}``
``dict`` (other)   ``{"$dict": [[key, value], ...]}`` (sorted by encoded key) when a key is
                   not a ``str`` or starts with ``$``
``int`` (huge)     ``{"$int": "<hex>"}`` for an int of more than 4300 decimal digits (Python
                   will not convert those to or from decimal text by default)
``SizedValue``     ``{"$sized": [nbytes, tag]}`` (``nbytes`` and ``tag`` ints)
``Timestamp``      ``{"$ts": {"millis", "counter", "nodeId"}}``
``LwwValue``       ``{"$lww": {"value", "timestamp"}}``
``OrMapEntry``     ``{"$orentry": {"value", "tag", "timestamp"}}``
``OrMapValue``     ``{"$ormap": [{"value", "tag", "timestamp"}, ...]}``
``OrTombstones``   ``{"$tomb": [tag, ...]}``
=================  ===========================================================

The encoding is canonical: equal values of the same types encode to the same text (object keys
are sorted, no insignificant whitespace), so the text can serve as a database key. Values are
written with orjson (non-ASCII characters as UTF-8; the standard library for an ``int`` beyond
64 bits or a lone surrogate); keys use the same encoding with every non-ASCII character
escaped, through the standard library's C encoder (``"a"`` is ``'"a"'``, ``1`` is ``'1'``):
``1`` and ``"1"`` are different keys, while keys that are equal in Python encode alike, as
they are one key of a dict: ``True``, ``1`` and ``1.0`` are all stored as ``1``, and ``-0.0``
as ``0`` (also inside a tuple key). Anything else (a ``set``, an arbitrary object, a NumPy
scalar, a structure nested deeper than :data:`MAX_DEPTH` or cyclic) raises
:class:`~toolkit.errors.UnsupportedValueError`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import orjson

from ..errors import UnsupportedValueError
from ..records import LwwValue, OrMapEntry, OrMapValue, OrTombstones, SizedValue, Timestamp

__all__ = [
    "encode_value",
    "check_value",
    "encode_plain",
    "decode_value",
    "encode_key",
    "decode_key",
    "encoded_size",
    "MAX_DEPTH",
    "SUPPORTED_TYPES",
]

#: Containers nested deeper than this are refused (this also catches cyclic structures).
MAX_DEPTH: int = 100

#: The value types the codec can store (containers may hold any of them).
SUPPORTED_TYPES: tuple[type, ...] = (
    str,
    int,
    float,
    bool,
    type(None),
    bytes,
    list,
    tuple,
    dict,
    SizedValue,
    Timestamp,
    LwwValue,
    OrMapEntry,
    OrMapValue,
    OrTombstones,
)

_SUPPORTED_NAMES = ", ".join(t.__name__ for t in SUPPORTED_TYPES)

# Cycles and depth are checked before encoding (MAX_DEPTH), so the encoder need not.
_py_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True, check_circular=False
).encode
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)


def _no_default(obj: Any) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


# The C encoder behind json.dumps, built once (JSONEncoder.encode rebuilds it per call).
_c_encode = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None, _no_default, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, False
    )
)


def _dumps_ascii(obj: Any) -> str:
    """Compact, key-sorted, ASCII-only JSON of a plain JSON tree (the key encoding); an int
    of more than 4300 digits is tagged (:func:`_big_ints`)."""
    try:
        return _ascii(obj)
    except ValueError:  # an int too long for decimal text
        return _ascii(_big_ints(obj))


def _ascii(obj: Any) -> str:
    if _c_encode is None:  # pragma: no cover - CPython always has the C encoder
        return _py_dumps(obj)
    return "".join(_c_encode(obj, 0))


_orjson_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS
#: As :data:`_SORTED`, refusing (rather than converting) dates, dataclasses and subclasses.
_STRICT = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

#: Ints this large or larger (more than 4300 decimal digits, Python's default limit for
#: converting an int to or from decimal text) are written as ``{"$int": "<hex>"}``.
_BIG_INT = 10**4300
#: Negated once here: negating a 4300-digit int on every check cost more than the check.
_NEG_BIG_INT = -_BIG_INT


def _big_ints(v: Any) -> Any:
    """``v`` (a JSON tree) with every int of more than 4300 digits tagged as hex."""
    t = type(v)
    if t is int:
        return {"$int": hex(v)} if not _NEG_BIG_INT < v < _BIG_INT else v
    if t is list:
        return [_big_ints(x) for x in v]
    if t is dict:
        return {k: _big_ints(x) for k, x in v.items()}
    return v


def _dumps(obj: Any) -> str:
    """Compact, key-sorted JSON of a plain JSON tree, UTF-8 text (the value encoding):
    orjson, or the standard library for an int beyond 64 bits (or a lone surrogate)."""
    try:
        return _orjson_dumps(obj, option=_SORTED).decode()  # type: ignore[no-any-return]
    except orjson.JSONEncodeError:
        return _dumps_ascii(obj)


def _int_text(v: int) -> str:
    """The text of an int at the top level of a value or key."""
    if _NEG_BIG_INT < v < _BIG_INT:
        return str(v)  # (callers pass an int, never a subclass: str is its repr)
    return _dumps_ascii({"$int": hex(v)})


_isfinite = math.isfinite
_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


class _Unsupported(Exception):
    """Internal: carries the innermost offending value up to :func:`encode_value`."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


def _ts(ts: Any) -> dict[str, Any]:
    if type(ts) is not Timestamp:
        raise _Unsupported(ts, "a CRDT timestamp must be a Timestamp")
    if type(ts.millis) is not int or type(ts.counter) is not int or type(ts.node_id) is not str:
        raise _Unsupported(ts, "Timestamp fields must be (int, int, str)")
    return ts.to_json()


def _sized(v: Any) -> list[int]:
    nbytes, tag = v.nbytes, v.tag
    if type(nbytes) is not int or type(tag) is not int:
        raise _Unsupported(v, "SizedValue fields must be (int, int)")
    return [nbytes, tag]


def _entry(e: Any, depth: int) -> dict[str, Any]:
    if type(e) is not OrMapEntry:
        raise _Unsupported(e, "OrMapValue.records must hold OrMapEntry objects")
    return {
        "value": _tree(e.value, depth),
        "tag": _tree(e.tag, depth),
        "timestamp": _ts(e.timestamp),
    }


def _tree(v: Any, depth: int) -> Any:
    """``v`` as a JSON-able tree (tagged objects for the non-JSON types)."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is float:
        if math.isfinite(v):
            return v
        return {"$float": "nan" if v != v else ("inf" if v > 0 else "-inf")}
    if depth >= MAX_DEPTH:
        raise _Unsupported(v, f"nested deeper than {MAX_DEPTH} levels (or cyclic)")
    d = depth + 1
    if t is list:
        return [_tree(x, d) for x in v]
    if t is dict:
        if all(type(k) is str and not k.startswith("$") for k in v):
            return {k: _tree(x, d) for k, x in v.items()}
        pairs = [(_tree(k, d), _tree(x, d)) for k, x in v.items()]
        pairs.sort(key=lambda p: _dumps_ascii(p[0]))
        return {"$dict": [[k, x] for k, x in pairs]}
    if t is tuple:
        return {"$tuple": [_tree(x, d) for x in v]}
    if t is bytes:
        return {"$bytes": base64.b64encode(v).decode("ascii")}
    if t is SizedValue:
        return {"$sized": _sized(v)}
    if t is Timestamp:
        return {"$ts": _ts(v)}
    if t is LwwValue:
        return {"$lww": {"value": _tree(v.value, d), "timestamp": _ts(v.timestamp)}}
    if t is OrMapEntry:
        return {"$orentry": _entry(v, d)}
    if t is OrMapValue:
        if type(v.records) not in (tuple, list):
            raise _Unsupported(v, "OrMapValue.records must be a tuple of OrMapEntry")
        return {"$ormap": [_entry(e, d) for e in v.records]}
    if t is OrTombstones:
        if type(v.tags) not in (tuple, list):
            raise _Unsupported(v, "OrTombstones.tags must be a tuple")
        return {"$tomb": [_tree(x, d) for x in v.tags]}
    raise _Unsupported(v, f"type {t.__name__} has no canonical encoding")


_PLAIN_SCALARS = frozenset((str, int, bool, type(None)))


def _plain(v: Any, depth: int) -> bool:
    """Whether ``v`` is plain JSON (encodable as it is, with no tagged objects)."""
    t = type(v)
    scalars = _PLAIN_SCALARS
    if t in scalars:
        return True
    if t is float:
        return _isfinite(v)
    if depth >= MAX_DEPTH:
        return False
    d = depth + 1
    if t is dict:
        for k, x in v.items():
            # a str key starting with "$" ("<" first: one comparison clears the usual key)
            if type(k) is not str or (k < "%" and "$" <= k):
                return False
            tx = type(x)
            if tx in scalars:
                continue
            if tx is list and d < MAX_DEPTH:  # a list inside a dict: checked here, one call less
                for y in x:
                    if type(y) not in scalars and not _plain(y, d + 1):
                        return False
            elif not _plain(x, d):
                return False
        return True
    if t is list:
        for x in v:
            if type(x) not in scalars and not _plain(x, d):
                return False
        return True
    return False


def _refuse(value: Any, err: _Unsupported | RecursionError) -> UnsupportedValueError:
    if isinstance(err, RecursionError):
        return UnsupportedValueError(f"cannot store {_short(value)}: nested too deeply (or cyclic)")
    inner = "" if err.value is value else f" (it contains {err.value!r})"
    return UnsupportedValueError(
        f"cannot store {_short(value)}{inner}: {err.reason}; supported types: {_SUPPORTED_NAMES}"
    )


def check_value(value: Any) -> bool:
    """Raise :class:`~toolkit.errors.UnsupportedValueError` (as :func:`encode_value` would)
    if ``value`` has no canonical encoding; cheaper than encoding it.

    Return True when ``value`` is plain JSON (no tagged types inside): then
    :func:`encode_plain` encodes it, with no second check. False for a supported value that
    needs tagging (a tuple, bytes, a CRDT value, ...)."""
    if type(value) is dict:
        # The usual value, walked here as _plain's dict branch would (depth 0): one call
        # less on every write a write-behind queue checks.
        scalars = _PLAIN_SCALARS
        for k, x in value.items():
            if type(k) is not str or (k < "%" and "$" <= k):  # as in _plain
                break
            tx = type(x)
            if tx in scalars:
                continue
            if tx is list:
                for y in x:
                    if type(y) not in scalars and not _plain(y, 2):
                        break
                else:
                    continue
                break
            if not _plain(x, 1):
                break
        else:
            return True
    elif _plain(value, 0):
        return True
    try:
        _tree(value, 0)
    except (_Unsupported, RecursionError) as err:
        raise _refuse(value, err) from None
    return False


def _encode(value: Any, dumps: Callable[[Any], str]) -> str:
    t = type(value)
    if t is str:
        return _encode_str(value)  # type: ignore[no-any-return]
    if t is int:
        return _int_text(value)
    if t is SizedValue:
        n, tag = value.nbytes, value.tag
        if type(n) is int and type(tag) is int and n < _BIG_INT and _NEG_BIG_INT < tag < _BIG_INT:
            return f'{{"$sized":[{n},{tag}]}}'
    if _plain(value, 0):
        return dumps(value)
    try:
        return dumps(_tree(value, 0))
    except (_Unsupported, RecursionError) as err:
        raise _refuse(value, err) from None


def encode_value(value: Any) -> str:
    """The canonical JSON text of ``value`` (UTF-8 text; strings at the top level are
    ASCII-escaped).

    Raises :class:`~toolkit.errors.UnsupportedValueError` naming the value (and the offending
    part of it) if it, or anything inside it, is not one of :data:`SUPPORTED_TYPES`.
    """
    return _encode(value, _dumps)


def encode_plain(value: Any) -> str:
    """:func:`encode_value` of a value :func:`check_value` found plain, without walking it
    again (the same text).

    A value changed since its check (it must not be, but a queued write holds the caller's
    object) is caught where the fast encoder meets what plain JSON does not hold (a date, a
    dataclass, a subclass of a built-in, a dict key that is not a str, an int beyond 64
    bits): then :func:`encode_value` encodes it after all, or refuses it by name. A tuple or
    a UUID put inside it is still written as a list or as text."""
    t = type(value)
    if t is str:
        return _encode_str(value)  # type: ignore[no-any-return]
    if t is int:
        return _int_text(value)
    try:
        return _orjson_dumps(value, option=_STRICT).decode()  # type: ignore[no-any-return]
    except orjson.JSONEncodeError:
        return encode_value(value)


def encode_key(key: Any) -> str:
    """The canonical text of a key (the value encoding; ``1`` and ``"1"`` differ, while
    keys equal in Python encode alike: ``True``, ``1`` and ``1.0`` are all ``'1'``).

    Raises :class:`~toolkit.errors.UnsupportedValueError` for a key that has no encoding.
    """
    t = type(key)
    if t is str:
        return _encode_str(key)  # type: ignore[no-any-return]
    if t is int:
        if _NEG_BIG_INT < key < _BIG_INT:  # as _int_text, one call less for the usual key
            return str(key)  # an int, not a subclass: str is its repr, and faster to call
        return _int_text(key)
    try:
        hash(key)
    except TypeError:
        raise UnsupportedValueError(
            f"key {key!r} of type {t.__name__} cannot be stored: keys must be hashable"
        ) from None
    try:
        return _encode(_key_form(key), _dumps_ascii)
    except UnsupportedValueError as err:
        raise UnsupportedValueError(f"key {key!r}: {err}") from None


def _key_form(key: Any) -> Any:
    """One representative of the keys equal to ``key`` in Python (a dict holds one of them):
    a bool or an integral float as an int (``-0.0`` as 0), inside tuples too."""
    t = type(key)
    if t is bool:
        return int(key)
    if t is float and key.is_integer():
        return int(key)
    if t is tuple:
        return tuple(_key_form(k) for k in key)
    return key


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj
    ((tag, payload),) = obj.items()
    if not tag.startswith("$"):
        return obj
    if tag == "$tuple":
        return tuple(payload)
    if tag == "$bytes":
        return base64.b64decode(payload)
    if tag == "$sized":
        return SizedValue(payload[0], payload[1])
    if tag == "$dict":
        return {k: v for k, v in payload}
    if tag == "$lww":
        return LwwValue(payload["value"], Timestamp.from_json(payload["timestamp"]))
    if tag == "$ormap":
        return OrMapValue(tuple(_entry_from(e) for e in payload))
    if tag == "$orentry":
        return _entry_from(payload)
    if tag == "$tomb":
        return OrTombstones(tuple(payload))
    if tag == "$ts":
        return Timestamp.from_json(payload)
    if tag == "$float":
        return float(payload)
    if tag == "$int":
        return int(payload, 16)
    raise UnsupportedValueError(f"unknown encoded type tag {tag!r} in stored value")


def _entry_from(obj: dict[str, Any]) -> OrMapEntry:
    return OrMapEntry(obj["value"], obj["tag"], Timestamp.from_json(obj["timestamp"]))


_decode = json.JSONDecoder(object_hook=_hook).decode


def decode_value(text: str) -> Any:
    """The value whose canonical text is ``text`` (inverse of :func:`encode_value`)."""
    return _decode(text)


def decode_key(text: str) -> Any:
    """The key whose canonical text is ``text`` (inverse of :func:`encode_key`)."""
    return _decode(text)


def encoded_size(value: Any, text: str) -> int:
    """Bytes a stored value accounts for: its text's length in UTF-8, or a
    :class:`SizedValue`'s ``nbytes`` (the placeholder stands for that many bytes of payload)."""
    if type(value) is SizedValue:
        return value.nbytes  # type: ignore[no-any-return]
    return len(text) if text.isascii() else len(text.encode())


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"
