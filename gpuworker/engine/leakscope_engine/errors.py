"""The two error kinds of the protocol (PROTOCOL.md, "Messages").

``BadRequest`` maps to kind ``bad_request`` (retrying will not help); every other exception,
``TorchMissing`` included, maps to kind ``runtime`` (a retry, or a fixed machine, may help).
"""


class BadRequest(Exception):
    """The request is wrong: a missing or ill-typed field, a refused value, a wrong state."""


class TorchMissing(RuntimeError):
    """An op needs torch/transformers/peft and one of them cannot be imported."""
