"""``wirecap --version``: the package, the decoding core in use and the libpcap that reads captures."""

import ctypes
import ctypes.util
from importlib.metadata import PackageNotFoundError, version

from decoders.core import core_name


def package_version() -> str:
    try:
        return version("wirecap")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def decoding_core() -> str:
    """Which implementation decodes: "rust <crate version>" (decoders._core) or "python"."""
    return core_name()


def libpcap_version() -> str:
    """libpcap's own version string (``pcap_lib_version``), through the library pcapy-ng loaded."""
    name = ctypes.util.find_library("pcap")
    if name is None:
        return "libpcap (version unknown)"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return "libpcap (version unknown)"
    lib.pcap_lib_version.restype = ctypes.c_char_p
    return lib.pcap_lib_version().decode()


def version_text() -> str:
    return f"wirecap {package_version()}\ndecoding core: {decoding_core()}\n{libpcap_version()}"
