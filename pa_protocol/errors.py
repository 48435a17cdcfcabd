"""The one error the protocol raises."""


class ProtocolError(ValueError):
    """A payload or topic that breaks the contract; `reason` is a short machine word."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
