"""Registry of anomaly names, and the one exception decoders raise inside.

Names are stable lowercase ``<proto>_<what>`` strings (Zeek's "weird" names): once released they are
never renamed, because analysts filter on them. Every name an ``anomaly`` event can carry is listed
here with what it means; ``tests/test_anomalies.py`` checks that the code uses no other.
"""

from types import MappingProxyType


class DecodeError(Exception):
    """Bad input found while decoding; ``feed``/``gap``/``eof`` turn it into an ``anomaly`` event.

    Raised only for problems in the input. Any other exception escaping a decoder is a bug.
    """

    def __init__(self, name: str, detail: str, offset: int | None = None) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail
        self.offset = offset


_NAMES: dict[str, str] = {
    # --- capture input (wirecap.source) ---
    "pcap_time_went_backwards": "A packet is older than one already processed in the same input; "
    "its events are stamped with the latest time seen so that output time never decreases.",
    "pcap_unknown_linktype": "An interface uses a link type wirecap cannot parse; its packets are counted only.",
    "netmon_unusable_frame": "A NetMon frame of a media type wirecap cannot use: another link layer (Token Ring, "
    "FDDI, ATM, 802.11) or one of NetMon's own records (NetEvent, filter, network info); counted only.",
    # --- link / network layer (wirecap.packets) ---
    "ip_truncated": "An IP packet is cut off inside its headers (fixed or IPv6 extension headers).",
    "ip_bad_header": "An IPv4 or IPv6 header is malformed (version, header length, a total length shorter "
    "than the header); its packet is dropped, as Wireshark drops it.",
    "ip_tso_length": "An IPv4 total length or IPv6 payload length of 0: a segment captured on the sending host "
    "before segmentation offload cut it; the captured bytes are taken as the packet.",
    "ip_length_past_capture": "An IP length field declares more bytes than were captured (segmentation offload, "
    "or a snap length); the captured bytes are used and anything cut off becomes a TCP gap once proven.",
    "ip_fragment_overlap": "IPv4 fragments of one datagram overlap with different bytes; the first copy is kept.",
    "ip_fragments_expired": "An IPv4 datagram's fragments did not all arrive within the reassembly timeout.",
    "ip_fragment_limit": "Too many IPv4 datagrams were being reassembled at once; the oldest was dropped.",
    "ip6_fragment": "An IPv6 fragment: not reassembled; the TCP bytes it carried become a gap.",
    "tcp_bad_header": "A TCP header is malformed (data offset below 5 or past the packet end).",
    "tcp_too_many_connections": "A new connection found max_connections open; the one idle longest was closed "
    "(conn.close reason 'evicted') to make room. Its later packets, if any, start a new mid-stream connection.",
    # --- TCP reassembly (wirecap.reassembly) ---
    "tcp_overlap_mismatch": "A retransmitted or overlapping segment carries different bytes than the copy "
    "already accepted; the first copy wins.",
    "tcp_ooo_limit": "Out-of-order data buffered for a connection passed its cap (or the global cap); "
    "the stream is advanced past the hole and the lost bytes are reported as a gap.",
    "tcp_data_after_close": "Data arrived on a direction after its FIN or the connection's RST (or was "
    "buffered beyond where its FIN ended the stream); those bytes are dropped.",
    # --- shared by record decoders (decoders._buffer) ---
    "mb31_invalid": "A [MC-NMF]/[MC-NBFX] variable-length integer is longer than five bytes or exceeds 31 bits.",
    # --- [MC-NMF] / [MS-NNS] / WCF (decoders.nmf, decoders.nns) ---
    "nmf_unknown_record": "A byte where an [MC-NMF] record should start is not a record type (0x00–0x0C); "
    "the direction resynchronises on the next envelope.",
    "nmf_unexpected_record": "An [MC-NMF] record is not allowed in the direction's state (e.g. an envelope "
    "before PreambleEnd); the direction resynchronises.",
    "nmf_bad_version": "An [MC-NMF] Version record is not 1.0; decoding goes on.",
    "nmf_bad_mode": "An [MC-NMF] Mode record holds a value other than 1–4.",
    "nmf_unknown_encoding": "A Known Encoding record holds a reserved value (0x09–0xFF); envelopes are not decoded.",
    "nmf_unsupported_encoding": "Envelopes use a content type wirecap cannot read; they are counted only.",
    "nmf_bad_string": "A Via, content type, fault or upgrade string is not UTF-8 or is longer than 64 KiB.",
    "nmf_envelope_too_large": "An envelope is larger than the envelope_size limit (64 MiB by default), or "
    "inflates past it or past decompressed_size; its bytes are skipped.",
    "nmf_decompression_ratio": "A compressed envelope inflates more than the decompression_ratio limit allows "
    "(a compression bomb); it is not decoded.",
    "nmf_decompress_failed": "A gzip/deflate-compressed envelope does not inflate.",
    "nmf_bad_mtom": "An MTOM envelope is not a MIME multipart with a terminated root part.",
    "nmf_no_sync": "A direction with no [MC-NMF] preamble showed no decodable envelope in its first 16 KiB; "
    "from then on only segments that start like an envelope are tried.",
    "nmf_record_lost": "A gap hit a record in progress; the partial record is dropped and the direction "
    "resynchronises.",
    "nmf_resync": "Bytes skipped while looking for the next envelope that decodes (after a gap, bad framing, "
    "or a capture that started mid-session with a partial record).",
    "nmf_truncated": "The direction ended inside a record.",
    "nns_bad_frame": "An [MS-NNS] handshake/data message or TLS record header is malformed; the rest of "
    "the upgraded direction is only counted.",
    "nns_handshake_error": "An [MS-NNS] HandshakeError message: authentication failed.",
    "nns_truncated": "An upgraded direction ended inside a frame.",
    "nns_oversized_frame": "An [MS-NNS] data message above 0xFC30 bytes (2.2.2) or a TLS record above "
    "2^14+2048 bytes: decoded anyway (real peers exceed the documented maximum), noted once per direction.",
    # --- [MS-NNS] handshake tokens (decoders.nns, decoders.gssapi, decoders.ntlm) ---
    "gssapi_bad_token": "A handshake token starts like an RFC 2743 3.1 InitialContextToken but its DER "
    "framing or mechanism OID is malformed; the token is reported without package details.",
    "spnego_bad_token": "An RFC 4178 NegTokenInit/NegTokenResp is malformed; the fields read before the "
    "fault are reported.",
    "kerberos_bad_message": "A Kerberos AP-REQ/AP-REP/KRB-ERROR (RFC 4120 5.5, RFC 4121 4.1) is malformed "
    "or of another type; the fields read before the fault are reported.",
    "ntlm_bad_message": "An [MS-NLMP] 2.2.1 NTLM message is malformed (unknown type, a field past its end, "
    "an AV_PAIR list without MsvAvEOL).",
    "wcf_too_many_pending": "More than 1024 request MessageIDs await a reply on one connection; the oldest "
    "is forgotten (its reply gets no latency).",
    # --- [MC-NBFX] binary XML, [MC-NBFSE] session strings (decoders.nbfx) ---
    "nbfx_truncated": "A binary XML document ends inside a record, or before its root element is closed.",
    "nbfx_unknown_record": "A binary XML record type is undefined, or not allowed where it appears.",
    "nbfx_bad_structure": "Binary XML records do not form one well-formed element tree (e.g. text or a "
    "second element outside the root, EndElement with nothing open).",
    "nbfx_bad_dictionary_id": "A static dictionary id is beyond the [MC-NBFS] table.",
    "nbfx_bad_text": "A binary XML string is not valid UTF-8 / UTF-16.",
    "nbfx_bad_value": "A typed binary XML value is invalid (bool not 0/1, DateTime or decimal out of range, "
    "negative length, QName prefix beyond 'z').",
    "nbfx_bad_session_table": "An [MC-NBFSE] string table is malformed; later session ids of that direction "
    "are no longer resolved (rendered session:N).",
    "nbfx_too_deep": "A binary XML document nests elements deeper than the nesting_depth limit.",
    "nbfx_too_many_elements": "A binary XML document has more elements (array items included) than the elements limit.",
    "nbfx_session_too_large": "A direction's [MC-NBFSE] session strings would pass the session_dictionary_size "
    "limit; the table is not kept and later session ids of that direction render as session:N.",
    "nbfx_too_many_attributes": "A binary XML element has more attributes than the decoder's limit.",
    "nbfx_too_large": "A binary XML document is larger than the decoder's limit.",
    "nbfx_array_too_long": "A binary XML Array record declares more items than the decoder's limit.",
    "nbfx_list_too_long": "A binary XML StartListText/EndListText list has more items than the decoder's limit.",
    # --- SOAP envelopes (decoders.soap) ---
    "soap_not_envelope": "A decoded message's root is not a SOAP 1.1/1.2 Envelope, or it has no Body.",
    "soap_bad_xml": "A text-encoded SOAP/XML message is not well-formed XML.",
    "soap_forbidden_xml": "A text XML message uses a DTD or entity declarations, refused for safety (defusedxml).",
    "soap_too_deep": "A text XML message nests elements deeper than the nesting_depth limit.",
    "soap_too_many_elements": "A text XML message has more elements than the elements limit.",
    # --- HTTP / iikoRMS server link (decoders.http) ---
    "http_bad_request": "Client bytes are not an HTTP/1.x request h11 accepts; the client side resynchronises "
    "at the next request line.",
    "http_bad_response": "Server bytes are not an HTTP/1.x response h11 accepts; the awaited call is emitted "
    "without a response and later server bytes are skipped until the next request.",
    "http_resync": "Client bytes skipped before a request line (a capture that starts mid-connection, or after "
    "a gap or a bad request).",
    "http_response_before_request": "Server bytes arrived while no request awaited a response; they are skipped.",
    "http_message_lost": "A gap hit a request or response in progress; its body is lost.",
    "http_truncated": "A direction ended inside a request or response.",
    "http_too_many_pending": "More than 100 requests on one connection await a response; the oldest is emitted "
    "without one.",
    "http_body_too_large": "A body is larger than the body_size limit (16 MiB by default) on the wire, or "
    "after decoding (also decompressed_size); only its size is kept.",
    "http_decompression_ratio": "A gzip/deflate body inflates more than the decompression_ratio limit allows "
    "(a compression bomb); it is not decoded.",
    "http_decompress_failed": "A gzip/deflate body does not inflate, or uses another content coding.",
    # --- .NET Remoting (decoders.remoting, remoting_frames, nrbf*) ---
    "nrtp_bad_preamble": "Where an [MS-NRTP] message frame should start there is no ``.NET`` 1.0 preamble; the "
    "direction searches for the next one (bytes skipped: resync).",
    "nrtp_bad_frame": "An [MS-NRTP] frame head has an unknown OperationType or ContentDistribution, or a negative "
    "content length; the direction resynchronises.",
    "nrtp_bad_header": "An [MS-NRTP] frame header is malformed (unknown token or data type, bad CountedString, "
    "or no EndHeaders within 64 KiB); the direction resynchronises.",
    "nrtp_bad_chunk": "A chunked [MS-NRTP] frame has a negative chunk size or a delimiter other than CR LF.",
    "nrtp_frame_lost": "A TCP gap cut an [MS-NRTP] frame; its bytes are counted (cut_by_gap) and the direction "
    "resynchronises at the next preamble.",
    "nrtp_truncated": "A direction ended inside an [MS-NRTP] frame.",
    "nrtp_content_too_large": "An [MS-NRTP] frame's content is over the envelope_size limit; counted, not decoded.",
    "nrbf_no_header": "A binary formatter stream does not start with a SerializedStreamHeader record.",
    "nrbf_bad_version": "A SerializedStreamHeader names a version other than 1.0.",
    "nrbf_truncated": "An [MS-NRBF] record or value runs past the end of the frame's content (or no MessageEnd).",
    "nrbf_unknown_record": "A byte where an [MS-NRBF] record should start is not a record type.",
    "nrbf_unexpected_record": "An [MS-NRBF] record where it cannot be (a second SerializedStreamHeader).",
    "nrbf_unknown_metadata": "A ClassWithId record refers to class metadata no earlier record defined.",
    "nrbf_bad_member_type": "An [MS-NRBF] MemberTypeInfo holds an unknown BinaryType.",
    "nrbf_bad_primitive": "An [MS-NRBF] value has an unknown PrimitiveType.",
    "nrbf_bad_value": "An [MS-NRBF] value is malformed (a string that is not UTF-8, a DateTime out of range, a "
    "Guid with bad members).",
    "nrbf_bad_length": "An [MS-NRBF] count or length is negative or larger than the stream could hold.",
    "nrbf_bad_array": "A BinaryArray record has an unknown array type or a rank outside 1–32.",
    "nrbf_bad_method": "A BinaryMethodCall or BinaryMethodReturn field is not the StringValueWithCode it must be.",
    "nrbf_untyped_member": "A class record without member types (BinaryFormatter's TypesWhenNeeded) holds a "
    "primitive value written bare: it cannot be read without the type's assembly, so the stream is not decoded.",
    "nrbf_bad_reference": "A MemberReference names an object the stream does not contain.",
    "nrbf_too_many_objects": "An [MS-NRBF] stream holds, or its resolved graph would write, more values than the "
    "elements limit allows; the message is not decoded.",
    "nrbf_too_deep": "An [MS-NRBF] object graph is nested deeper than the nesting_depth limit; objects past it "
    'are written as {"@truncated": id}.',
    # --- generic decoder outcomes (wirecap.pipeline) ---
    "decoder_error": "A decoder raised an unexpected exception (a wirecap bug); the direction is counted only "
    "from then on. Please report it with the capture.",
    "conn_undecoded": "A connection's bytes were taken by no decoder: no protocol was recognised, or the one "
    "assumed from its port found no framing (``service_guess`` in conn.close). They are counted as skipped.",
    "bytes_unaccounted": "A decoder's decoded and skipped byte counts do not add up to the bytes the "
    "reassembler delivered (a wirecap bug); the difference is counted as skipped ``unaccounted``.",
}

ANOMALIES = MappingProxyType(_NAMES)
