"""[MS-NRTP] .NET Remoting over TCP: recognised, counted, not yet decoded.

An older note says the iikoFront terminal link is .NET Remoting rather than WCF, so a connection that
opens with a Remoting message frame must be told apart from [MC-NMF] and HTTP. [MS-NRTP] 2.2.3.3: every
message frame starts with ProtocolId ``.NET`` (0x54454E2E little-endian), MajorVersion 1, MinorVersion 0,
then OperationType (2 bytes: 0 request, 1 one-way request, 2 reply) and the content distribution
(2 bytes: 0 sized, 1 chunked). Decoding the frames and their [MS-NRBF] content is a later issue; until
then the connection is named ``remoting`` (``decoders.detect`` gives it the ``Undecoded`` fallback) and its
bytes are counted.
"""

PREAMBLE = b".NET\x01\x00"
OPERATION_TYPES = (0, 1, 2)  # request, one-way request, reply
CONTENT_DISTRIBUTIONS = (0, 1)  # sized, chunked
FRAME_HEAD = len(PREAMBLE) + 4


def _is_frame_start(head: bytes) -> bool | None:
    if len(head) < FRAME_HEAD:
        return None if PREAMBLE.startswith(head[: len(PREAMBLE)]) else False
    if not head.startswith(PREAMBLE):
        return False
    operation = int.from_bytes(head[6:8], "little")
    distribution = int.from_bytes(head[8:10], "little")
    return operation in OPERATION_TYPES and distribution in CONTENT_DISTRIBUTIONS


def probe(orig_head: bytes, resp_head: bytes) -> bool | None:
    """A Remoting frame at the start of either direction (a reply alone: a capture begun mid-call).

    False only once both directions have spoken and neither starts a frame.
    """
    verdicts = [_is_frame_start(head) for head in (orig_head, resp_head) if head]
    if True in verdicts:
        return True
    if len(verdicts) == 2 and None not in verdicts:
        return False
    return None
