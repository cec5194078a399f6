"""Sans-I/O protocol decoders for iiko LAN traffic.

Every decoder here is a state machine: it is fed reassembled stream bytes, told of gaps and of
end-of-stream, and returns event objects (``decoders.events``). Nothing in this package does I/O,
reads a clock, logs, or keeps module-level mutable state, so each decoder can be tested from a
hex string.
"""
