"""Python values of the ClickHouse types that Arrow holds as bytes or plain integers.

Arrow has no UUID, IP address or 128/256-bit integer type: Granary's client carries them as
``fixed_size_binary`` (UUID in RFC 4122 byte order, IPv6 in network order, big integers
little-endian) and IPv4 as ``uint32``, naming the ClickHouse type in the field's
``clickhouse.type`` metadata. These functions convert between those and ``uuid.UUID``,
``ipaddress`` addresses and ``int``, for lists going in and rows coming out.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any, Callable, Optional

import pyarrow as pa

_WIDE_INTEGERS = {"Int128": (16, True), "UInt128": (16, False), "Int256": (32, True), "UInt256": (32, False)}


def clickhouse_type(field: pa.Field) -> str:
    """The ClickHouse type a field carries in its metadata, without ``Nullable(...)``."""
    metadata = field.metadata or {}
    name = metadata.get(b"clickhouse.type", b"").decode()
    if name.startswith("Nullable(") and name.endswith(")"):
        name = name[len("Nullable(") : -1]
    return name


def _to_uuid(value: Any) -> bytes:
    return (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes


def _to_ipv4(value: Any) -> int:
    return value if isinstance(value, int) else int(ipaddress.IPv4Address(value))


def _to_ipv6(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    address = ipaddress.ip_address(value) if not isinstance(value, ipaddress._BaseAddress) else value
    if isinstance(address, ipaddress.IPv4Address):
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    return address.packed


def encoder(field: pa.Field) -> Optional[Callable[[Any], Any]]:
    """How to turn one Python value into what Arrow holds for this field, if it needs turning."""
    name = clickhouse_type(field)
    if name == "UUID":
        return _to_uuid
    if name == "IPv4":
        return _to_ipv4
    if name == "IPv6":
        return _to_ipv6
    if name in _WIDE_INTEGERS:
        width, signed = _WIDE_INTEGERS[name]
        return lambda value: value if isinstance(value, bytes) else int(value).to_bytes(width, "little", signed=signed)
    return None


def decoder(field: pa.Field) -> Optional[Callable[[Any], Any]]:
    """How to turn one value of this field, as Arrow gives it, into its Python value."""
    name = clickhouse_type(field)
    if name == "UUID":
        return lambda value: uuid.UUID(bytes=value)
    if name == "IPv4":
        return ipaddress.IPv4Address
    if name == "IPv6":
        return ipaddress.IPv6Address
    if name in _WIDE_INTEGERS:
        _, signed = _WIDE_INTEGERS[name]
        return lambda value: int.from_bytes(value, "little", signed=signed)
    return None


def encode(field: pa.Field, values: list) -> list:
    convert = encoder(field)
    if convert is None:
        return values
    return [None if value is None else convert(value) for value in values]


def decode(field: pa.Field, values: list) -> list:
    convert = decoder(field)
    if convert is None:
        return values
    return [None if value is None else convert(value) for value in values]
