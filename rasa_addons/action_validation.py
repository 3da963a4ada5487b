"""Rasa checks every action server response against its JSON schema, and rebuilt the
check each time: `jsonschema.validate` first validates the schema itself, then picks a
validator class, then validates. Profiled under load (py-spy on a Rasa server, see
docs/operations.md), that took 35% of the server's time: about 38 ms per action call for
a reply with buttons, against 2 ms with the validator built once.

`install()` replaces `RemoteAction._validate_action_result` with the same check (the same
schema, the validator class jsonschema picks for it, the same error message) on a
validator built once. rasa_addons/serve.py installs it before Rasa starts.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once, as jsonschema.validate did on every call
    validator = cls(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, "
                "make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise
        return True

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    _installed = True
