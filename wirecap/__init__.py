"""wirecap: the capture side — sources, packets, TCP reassembly, pipeline, sinks and the CLI.

Data flows one way: source → packets → reassembly → protocol detection → decoders (``decoders/``)
→ ordered events → sink.
"""
