"""Every exception the project raises on purpose, in one tree.

ExpatbotError
├── AssistantUnavailable      the NLU/dialogue side cannot answer now (user gets UNAVAILABLE)
│   ├── RasaUnavailable       connection refused, timeout or 5xx from the Rasa server
│   └── NoReply               Rasa answered with nothing: the action server failed
└── ConfigurationError        a setting or file the operator must fix
"""


class ExpatbotError(Exception):
    """Base of the project's own exceptions."""


class AssistantUnavailable(ExpatbotError):
    """The assistant cannot answer this message now; the message stays stored."""


class RasaUnavailable(AssistantUnavailable):
    pass


class NoReply(AssistantUnavailable):
    pass


class ConfigurationError(ExpatbotError):
    pass
