"""leakscope's GPU engine: a JSON-lines server over transformers + peft.

The Go worker starts ``python3 -m leakscope_engine`` and talks to it over stdin/stdout as
``PROTOCOL.md`` (beside this package) specifies. Only ``hf`` and ``hf_train`` import torch;
everything else is standard library, so the server starts, validates requests and answers
``hello`` on a machine without torch.
"""

__version__ = "0.1.0"

#: The protocol version this engine speaks (PROTOCOL.md, "The engine protocol (version 1)").
PROTOCOL_VERSION = 1
