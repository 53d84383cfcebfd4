class DomainError(Exception):
    """A business rule said no. The message is meant for the person who asked."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def refuse_if(refusal: str | None) -> None:
    """Raise a DomainError carrying `refusal`, when a selector found a reason to refuse."""
    if refusal:
        raise DomainError(refusal)
