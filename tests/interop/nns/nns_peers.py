"""Two real GSS-API peers talking [MC-NMF] + [MS-NNS] over one loopback TCP connection per scenario.

The tokens are MIT Kerberos's and gss-ntlmssp's, through python-gssapi (Debian's python3-gssapi, hence
``/usr/bin/python3``); nothing here builds a token. Only the framing around them is ours: the [MC-NMF]
2.2.3 preamble up to UpgradeRequest ``application/negotiate``, UpgradeResponse, [MS-NNS] 2.2.1 handshake
messages (HandshakeDone when the sender's context is complete) and 2.2.2 data messages holding
``gss_wrap``-ed [MC-NMF] records (PreambleEnd, PreambleAck, SizedEnvelopes split at 0xFC00 bytes of
plain text as .NET's NegotiateStream does, End). Mono's WCF cannot play this: a NetTcpBinding with
SecurityMode.Transport and Windows credentials opens, calls and answers, but sends no UpgradeRequest
at all (Mono 6.8: the preamble goes straight to PreambleEnd, the SOAP in clear; see captures/README.md).

    nns_peers.py SCENARIO... > truth.jsonl     (run by run_nns.sh, inside its network namespace)

Each scenario prints one truth line: what the peers themselves know about the exchange.
"""

import json
import socket
import sys
import threading

import gssapi
import gssapi.raw as gr

PORT = 8506
VIA = b"net.tcp://maincash.store.local:8506/MainCash"
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")
NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
SERVICE = gssapi.Name("host@maincash.store.local", gssapi.NameType.hostbased_service)
USERS = {
    "krb": ("ivanov@STORE.LOCAL", b"Passw0rd!"),
    "ntlm": ("ivanov@STORE", b"Passw0rd!"),
    "ntlm_bad": ("ivanov@STORE", b"wrong password"),
}
SCENARIOS = {  # name: (mechanism asked for, credentials, mechanisms SPNEGO may offer)
    "spnego_kerberos": (SPNEGO, "krb", [KRB5]),
    "kerberos": (KRB5, "krb", None),
    "spnego_ntlm": (SPNEGO, "ntlm", [NTLM]),
    "ntlm": (NTLM, "ntlm", None),
    "ntlm_bad_password": (NTLM, "ntlm_bad", None),
}
IN_PROGRESS, DONE, ERROR = 0x16, 0x14, 0x15
SEC_E_LOGON_DENIED = 0x8009030C
BIG = 70_000  # the client's envelope: more than one data message
MAX_PLAIN = 0xFC00  # .NET NegotiateStream's largest plain-text chunk per data message


def mb31(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def send_handshake(sock: socket.socket, ctx: gssapi.SecurityContext, token: bytes | None, log: list) -> None:
    msg_id = DONE if ctx.complete else IN_PROGRESS
    token = token or b""
    sock.sendall(bytes([msg_id, 1, 0]) + len(token).to_bytes(2, "big") + token)
    log.append({"handshake": "done" if msg_id == DONE else "in_progress", "size": len(token)})


def recv_handshake(sock: socket.socket) -> tuple[int, bytes]:
    head = recv_exact(sock, 5)
    return head[0], recv_exact(sock, int.from_bytes(head[3:5], "big"))


def send_data(sock: socket.socket, ctx: gssapi.SecurityContext, plain: bytes, counts: dict) -> None:
    for i in range(0, len(plain), MAX_PLAIN):
        sealed = ctx.wrap(plain[i : i + MAX_PLAIN], True).message
        sock.sendall(len(sealed).to_bytes(4, "little") + sealed)
        counts["frames"] += 1


def recv_data(sock: socket.socket, ctx: gssapi.SecurityContext) -> bytes:
    size = int.from_bytes(recv_exact(sock, 4), "little")
    return ctx.unwrap(recv_exact(sock, size)).message


def envelope(size: int) -> bytes:
    """A SizedEnvelope record around opaque bytes: inside the seal nobody reads them."""
    return b"\x06" + mb31(size) + bytes((i * 7) & 0xFF for i in range(size))


def server(listener: socket.socket, result: dict) -> None:
    conn, _ = listener.accept()
    with conn:
        pre = b""
        while not pre.endswith(b"application/negotiate"):
            pre += conn.recv(1)
        conn.sendall(b"\x0a")  # UpgradeResponse
        ctx = gssapi.SecurityContext(creds=gssapi.Credentials(usage="accept"), usage="accept")
        log: list = []
        msg_id, token = recv_handshake(conn)
        while True:
            try:
                out = ctx.step(token)
            except gssapi.exceptions.GSSError as err:
                # .NET's NegotiateStream answers a failed AcceptSecurityContext with HandshakeError whose
                # 8-byte payload is the HRESULT, big-endian ([MS-NNS] 2.2.1)
                conn.sendall(bytes([ERROR, 1, 0, 0, 8]) + SEC_E_LOGON_DENIED.to_bytes(8, "big"))
                result.update(acceptor_error=str(err.gen_message()), resp_tokens=log, resp_data_frames=0)
                return
            send_handshake(conn, ctx, out, log)
            if ctx.complete:
                if msg_id != DONE:
                    msg_id, token = recv_handshake(conn)
                    assert msg_id == DONE and not token, "initiator sent more after we completed"
                break
            msg_id, token = recv_handshake(conn)
        counts = {"frames": 0}
        assert recv_data(conn, ctx) == b"\x0c"  # PreambleEnd
        send_data(conn, ctx, b"\x0b", counts)  # PreambleAck
        request = recv_data(conn, ctx)
        while len(request) < len(envelope(BIG)):  # the big envelope comes in pieces
            request += recv_data(conn, ctx)
        send_data(conn, ctx, envelope(300), counts)
        assert recv_data(conn, ctx) == b"\x07"  # End
        send_data(conn, ctx, b"\x07", counts)
        result.update(
            initiator=str(ctx.initiator_name).rstrip("\x00"),  # gss-ntlmssp's display name ends in NUL
            acceptor_mech=ctx.mech.dotted_form,
            resp_tokens=log,
            resp_data_frames=counts["frames"],
        )


def client(scenario: str) -> dict:
    mech, user, neg_mechs = SCENARIOS[scenario]
    name, password = USERS[user]
    creds = gr.acquire_cred_with_password(
        gssapi.Name(name, gssapi.NameType.user), password, usage="initiate", mechs=[mech]
    ).creds
    if neg_mechs:
        gr.set_neg_mechs(creds, neg_mechs)
    ctx = gssapi.SecurityContext(
        name=SERVICE,
        creds=creds,
        mech=mech,
        usage="initiate",
        flags=gssapi.RequirementFlag.mutual_authentication
        | gssapi.RequirementFlag.confidentiality
        | gssapi.RequirementFlag.integrity,
    )
    log: list = []
    counts = {"frames": 0}
    with socket.create_connection(("127.0.0.1", PORT)) as sock:
        via = b"\x02" + mb31(len(VIA)) + VIA
        upgrade = b"\x09" + mb31(21) + b"application/negotiate"
        sock.sendall(b"\x00\x01\x00" + b"\x01\x02" + via + b"\x03\x08" + upgrade)
        assert recv_exact(sock, 1) == b"\x0a"
        token = ctx.step()
        while True:
            send_handshake(sock, ctx, token, log)
            msg_id, incoming = recv_handshake(sock)
            if msg_id == ERROR:
                return {
                    "scenario": scenario,
                    "mech": mech.dotted_form,
                    "spnego": False,
                    "user": name,
                    "target": str(SERVICE),
                    "orig_tokens": log,
                    "orig_data_frames": 0,
                    "handshake_error": f"0x{int.from_bytes(incoming, 'big'):08x}",
                }
            if msg_id == DONE and ctx.complete:
                break
            token = ctx.step(incoming)
            if ctx.complete and msg_id == DONE:
                if token or log[-1]["handshake"] != "done":
                    send_handshake(sock, ctx, token, log)
                break
        send_data(sock, ctx, b"\x0c", counts)  # PreambleEnd
        assert recv_data(sock, ctx) == b"\x0b"
        send_data(sock, ctx, envelope(BIG), counts)  # above 0xFC00: two data messages
        recv_data(sock, ctx)
        send_data(sock, ctx, b"\x07", counts)
        assert recv_data(sock, ctx) == b"\x07"
    return {
        "scenario": scenario,
        "mech": ctx.mech.dotted_form,
        "spnego": mech == SPNEGO,
        "user": name,
        "target": str(SERVICE),
        "orig_tokens": log,
        "orig_data_frames": counts["frames"],
    }


def main() -> None:
    for scenario in sys.argv[1:]:
        with socket.create_server(("127.0.0.1", PORT), reuse_port=True) as listener:
            result: dict = {}
            thread = threading.Thread(target=server, args=(listener, result))
            thread.start()
            truth = client(scenario)
            thread.join(10)
            if thread.is_alive() or not result:
                raise SystemExit(f"{scenario}: server side did not finish")
        print(json.dumps({**truth, **result}), flush=True)


if __name__ == "__main__":
    main()
