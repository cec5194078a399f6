"""captures/nns_auth.pcap: the handshake tokens real GSS-API peers sent, and tshark's reading of them.

The capture (tests/interop/nns/run_nns.sh) holds five connections to 8506, in this order: SPNEGO over
Kerberos, bare Kerberos, SPNEGO over NTLM, bare NTLM, and bare NTLM with a wrong password (the acceptor
answers HandshakeError); MIT Kerberos 1.20 and gss-ntlmssp 1.2 wrote every token.
The tokens are cut out of the reassembled streams here by a walk of the [MS-NNS] 2.2.1 headers
that is independent of decoders.nns, so the parser tests get the peers' bytes, not ours.
"""

import json
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from wirecap.streams import collect_streams

REPO = Path(__file__).resolve().parent.parent
CAPTURE = REPO / "captures" / "nns_auth.pcap"
TRUTH = REPO / "captures" / "nns_auth.truth.jsonl"
SCENARIOS = ("spnego_kerberos", "kerberos", "spnego_ntlm", "ntlm", "ntlm_bad_password")
UPGRADE = b"application/negotiate"


@dataclass(frozen=True)
class Token:
    conn: int  # index of the connection in SYN order (= the truth file's line)
    dir: str
    message_id: int
    data: bytes


@dataclass(frozen=True)
class Stream:
    orig: str
    data: dict[str, bytes]  # the whole reassembled direction
    secured_at: dict[str, int]  # where the [MS-NNS] bytes start (after UpgradeRequest / UpgradeResponse)


@cache
def streams() -> list[Stream]:
    out = []
    for s in collect_streams([str(CAPTURE)]):
        start = s.data["orig"].index(UPGRADE) + len(UPGRADE)
        out.append(Stream(s.orig, s.data, {"orig": start, "resp": 1}))
    return out


@cache
def tokens() -> list[Token]:
    """Every handshake token, connection by connection, each direction's in order."""
    out = []
    for n, stream in enumerate(streams()):
        for direction in ("orig", "resp"):
            data, pos = stream.data[direction], stream.secured_at[direction]
            while True:
                message_id, size = data[pos], int.from_bytes(data[pos + 3 : pos + 5], "big")
                out.append(Token(n, direction, message_id, data[pos + 5 : pos + 5 + size]))
                pos += 5 + size
                if message_id == 0x14 or pos >= len(data):  # HandshakeDone (data follows), or closed
                    break
    return out


def token(conn: str, direction: str, index: int = 0) -> bytes:
    """The ``index``-th non-empty token a direction of scenario ``conn`` sent."""
    sent = [t.data for t in tokens() if t.conn == SCENARIOS.index(conn) and t.dir == direction and t.data]
    return sent[index]


def truth() -> list[dict]:
    return [json.loads(line) for line in TRUTH.read_text().splitlines()]


TSHARK_FIELDS = (
    "frame.number",
    "tcp.stream",
    "tcp.dstport",
    "ntlmssp.messagetype",
    "ntlmssp.negotiateflags",
    "ntlmssp.auth.domain",
    "ntlmssp.auth.username",
    "ntlmssp.auth.hostname",
    "ntlmssp.challenge.target_name",
    "ntlmssp.challenge.target_info.nb_computer_name",
    "ntlmssp.challenge.target_info.nb_domain_name",
    "ntlmssp.challenge.target_info.dns_computer_name",
    "ntlmssp.version.major",
    "ntlmssp.version.minor",
    "ntlmssp.version.build_number",
    "ntlmssp.version.ntlm_current_revision",
    "ntlmssp.ntlmv2_response",
    "kerberos.msg_type",
    "kerberos.realm",
    "kerberos.SNameString",
    "kerberos.etype",
    "kerberos.kvno",
    "kerberos.ap_options",
    "spnego.MechType",
    "spnego.supportedMech",
    "spnego.negResult",
)
# What must never reach wirecap's output: the secrets as tshark finds them.
SECRET_FIELDS = (
    "kerberos.cipher",
    "ntlmssp.auth.ntresponse",
    "ntlmssp.auth.lmresponse",
    "ntlmssp.auth.sesskey",
    "ntlmssp.ntlmserverchallenge",
    "ntlmssp.ntlmv2_response.ntproofstr",
    "spnego.mechListMIC",
)


def tshark_fields(fields: tuple[str, ...], display_filter: str) -> list[dict[str, str]]:
    """One dict per matching frame. Wireshark's mc-nmf dissector is not on 8506 by default: ``-d``
    puts it there, and it hands the upgraded bytes to ms-nns, which hands each token to gssapi."""
    args = ["tshark", "-r", str(CAPTURE), "-d", "tcp.port==8506,mc-nmf", "-Y", display_filter, "-T", "fields"]
    args += ["-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=;"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]
