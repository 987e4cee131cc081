"""Steps 3 and 4, map and validate: ``Issue``, one reason a record is rejected.

The mappers (a rule of the mapping) and the validator (a rule of the contract) both reject a
record with a list of issues, and the dead-letter line carries them. It lives below both steps
so that a mapper never imports the validator.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Issue"]


@dataclass(frozen=True)
class Issue:
    """One reason a record is rejected.

    ``path`` is a JSON path into the record (``$``, ``$.metadata.agent_id``, ``$.items[0]``);
    ``rule`` is the JSON Schema keyword that failed (``type``, ``enum``, ``pattern``,
    ``required``, ``minimum``, ``format``, ...) or a mapping rule name; ``message`` says what is
    wrong in words (it may quote the offending value, truncated).
    """

    path: str
    rule: str
    message: str
