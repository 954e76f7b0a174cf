"""Errors the package raises."""


class LeakscopeError(Exception):
    """A leakscope request failed.

    ``field`` names the request field at fault (``"sample_index"``,
    ``"items[3].text"``, ``"server"``) when the sidecar or the service said
    which; it is None otherwise.
    """

    def __init__(self, message, field=None):
        super().__init__("%s: %s" % (field, message) if field else message)
        self.field = field
