"""The discretized architecture (docs/DESIGN.md, Discretization) as a Python object."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union, cast

__all__ = ["Genotype"]


class Genotype(Mapping[str, Any]):
    """A genotype: the parsed JSON ``daas_engine_discretize`` returns.

    It is a read-only mapping over the JSON's keys (``g["cells"]``) whose keys are also attributes
    (``g.method``, ``g.cells``). ``darts`` is the DARTS-style ``Genotype(...)`` string and ``nb201``
    the NAS-Bench-201 string; each is None when the space has no such form. ``to_json()`` returns the
    exact text the engine produced.
    """

    __slots__ = ("_data", "_json")

    def __init__(self, data: Union[str, bytes, Mapping[str, Any]]) -> None:
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8")
        if isinstance(data, str):
            text = data
            parsed = json.loads(text)
        else:
            parsed = json.loads(json.dumps(dict(data)))  # a deep copy of plain JSON data
            text = json.dumps(parsed, separators=(",", ":"))
        if not isinstance(parsed, dict) or "cells" not in parsed:
            raise ValueError("daas: a genotype is a JSON object with a 'cells' key")
        object.__setattr__(self, "_data", parsed)
        object.__setattr__(self, "_json", text)

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Genotype":
        """Parse a genotype's JSON text."""
        return cls(text)

    def to_json(self) -> str:
        """The genotype's JSON text, exactly as the engine wrote it."""
        return cast(str, self._json)

    def to_dict(self) -> Dict[str, Any]:
        """A deep copy of the parsed JSON."""
        return cast(Dict[str, Any], json.loads(self._json))

    @property
    def method(self) -> str:
        return str(self._data.get("method", ""))

    @property
    def cells(self) -> List[Dict[str, Any]]:
        """One entry per cell type: ``name``, ``concat`` and ``nodes`` (kept inputs, strongest first)."""
        return cast(List[Dict[str, Any]], self._data["cells"])

    @property
    def darts(self) -> Optional[str]:
        """The DARTS ``Genotype(normal=..., reduce=...)`` string, or None for other spaces."""
        return self._data.get("darts") or None

    @property
    def nb201(self) -> Optional[str]:
        """The NAS-Bench-201 architecture string, or None for other spaces."""
        return self._data.get("nb201") or None

    def cell(self, name: str) -> Dict[str, Any]:
        """The cell type called ``name``."""
        for c in self.cells:
            if c.get("name") == name:
                return c
        raise KeyError(name)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("daas: a Genotype is read-only")

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Genotype):
            return bool(self._data == other._data)
        if isinstance(other, Mapping):
            return bool(self._data == dict(other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(json.dumps(self._data, sort_keys=True))

    def __repr__(self) -> str:
        shown = self.darts or self.nb201 or self._json
        return f"<daas.Genotype {self.method}: {shown}>"

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        return (Genotype, (self._json,))
