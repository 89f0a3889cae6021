class InvalidImage(ValueError):
    """The bytes are not an image we accept; ``str(exc)`` is a message for the uploader."""


class SpecError(ValueError):
    """A rendition spec string is malformed; ``str(exc)`` says what to change."""
