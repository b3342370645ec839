"""``resource.Quantity``: parsing, comparing and the API server's canonical form.

The API server stores a quantity in canonical form: ``"1000m"`` becomes
``"1"``, ``"1024Mi"`` becomes ``"1Gi"``, ``"0.5"`` becomes ``"500m"``. The
format (binary suffixes, decimal suffixes, exponent) is the input's; values
below one nano-unit round up, as Go's ``resource.Quantity`` does.

Example:

    >>> from reconcile.merge import canonical_quantity, quantities_equal
    >>> canonical_quantity("1000m"), canonical_quantity("1024Mi"), canonical_quantity("0.5Gi")
    ('1', '1Gi', '512Mi')
    >>> quantities_equal("1Gi", "1073741824")
    True
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Final

from reconcile.errors import MergeError

__all__ = ["canonical_quantity", "parse_quantity", "quantities_equal"]

_BINARY: Final = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL: Final = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_DECIMAL_SUFFIX: Final = {v: k for k, v in _DECIMAL.items()}
_RE: Final = re.compile(
    r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$"
)


def parse_quantity(text: str | int | float) -> tuple[Fraction, str]:
    """(exact value, format) where format is ``BinarySI``, ``DecimalSI`` or ``DecimalExponent``.

    >>> parse_quantity("1.5Gi")
    (Fraction(1610612736, 1), 'BinarySI')
    """
    if isinstance(text, bool):
        raise MergeError(f"not a quantity: {text!r}")
    if isinstance(text, int | float):
        text = repr(text)
    m = _RE.match(text.strip())
    if m is None:
        raise MergeError(f"not a quantity: {text!r}")
    sign, number, suffix, exponent = m.groups()
    value = Fraction(number)
    if sign == "-":
        value = -value
    if exponent is not None:
        return value * Fraction(10) ** int(exponent), "DecimalExponent"
    if suffix in _BINARY:
        return value * (2 ** _BINARY[suffix]), "BinarySI"
    return value * Fraction(10) ** _DECIMAL[suffix or ""], "DecimalSI"


def quantities_equal(a: str | int | float, b: str | int | float) -> bool:
    """Whether two quantities have the same value (``"1000m"`` and ``"1"``).

    Example:

        >>> quantities_equal("1000m", "1"), quantities_equal("1Gi", "1G")
        (True, False)
    """
    if a == b:
        return True
    try:
        # compare what the server stores: values rounded up to nano-units
        return parse_quantity(canonical_quantity(a))[0] == parse_quantity(canonical_quantity(b))[0]
    except MergeError:
        return False


@functools.lru_cache(maxsize=4096)
def canonical_quantity(text: str | int | float) -> str:
    """The string the API server stores for a quantity.

    Example:

        >>> canonical_quantity("1000m"), canonical_quantity("1024Mi"), canonical_quantity("0.5")
        ('1', '1Gi', '500m')
    """
    value, fmt = parse_quantity(text)
    # Round up (away from zero) to nano precision, as Go does for inf.Dec.
    nanos = value * 10**9
    if nanos.denominator != 1:
        whole = -((-abs(nanos)) // 1)
        nanos = Fraction(whole if value > 0 else -whole)
        value = nanos / 10**9
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mag = abs(value)
    if fmt == "BinarySI":
        if mag < 1024 or mag.denominator != 1:
            fmt = "DecimalSI"
        else:
            n = int(mag)
            shift = 0
            while shift < 60 and n % (1 << (shift + 10)) == 0:
                shift += 10
            if shift == 0:
                return sign + str(n)
            suffix = {v: k for k, v in _BINARY.items()}[shift]
            return f"{sign}{n >> shift}{suffix}"
    # Decimal: the largest exponent (a multiple of 3) leaving an integer mantissa.
    exp = -9
    mant = mag * 10**9
    while exp < 18 and mant.denominator == 1 and int(mant) % 1000 == 0:
        mant /= 1000
        exp += 3
    if mant.denominator != 1:  # pragma: no cover - nano rounding made it whole
        raise MergeError(f"cannot canonicalise quantity {text!r}")
    digits = str(int(mant))
    if fmt == "DecimalExponent":
        return f"{sign}{digits}" + (f"e{exp}" if exp else "")
    return f"{sign}{digits}{_DECIMAL_SUFFIX[exp]}"
