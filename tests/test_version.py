"""``wirecap --version`` (``wirecap.version``): the package, the decoding core in use, libpcap."""

import os
from importlib.metadata import version

from conftest import ok

from wirecap.version import decoding_core, libpcap_version


def test_version_names_the_package_the_core_and_libpcap(wirecap) -> None:
    lines = ok(wirecap("--version")).decode().splitlines()
    assert lines == [f"wirecap {version('wirecap')}", f"decoding core: {decoding_core()}", libpcap_version()]
    pure = os.environ.get("WIRECAP_PURE_PYTHON", "") not in ("", "0")
    assert decoding_core() == "python" if pure else decoding_core().startswith("rust ")
    assert libpcap_version().startswith("libpcap version 1.")
