#!/usr/bin/env bash
# Capture the store's scripted evening: a Mono main cash, two Mono terminals and an iikoRMS-like server
# link, all on loopback, under one tcpdump ('tcp port 8506 or tcp port 8080').
#
#   run_store.sh OUTDIR  ->  OUTDIR/store.pcap  OUTDIR/store.truth.jsonl  OUTDIR/store.orders.json
#
# Needs root, mono, mcs, tcpdump and Python 3.11 ($PYTHON, else python3). Like run_wcf.sh it re-runs
# itself in a private network namespace with a 1500-byte-MTU lo when it may; store.py does the rest.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
if [[ -z ${STORE_NETNS:-} ]] && command -v ip >/dev/null && unshare --net true 2>/dev/null; then
    STORE_NETNS=1 exec unshare --net "$0" "$@"
fi
if [[ ${STORE_NETNS:-} == 1 ]]; then
    ip link set lo mtu 1500 gso_max_size 1500 gso_max_segs 1 up
else
    echo "run_store.sh: no network namespace available, capturing on the host's lo" >&2
fi
export TZ=Europe/Moscow  # the terminals' local times carry +03:00
exec timeout 120 "${PYTHON:-python3}" "$(dirname "$0")/store.py" "$1"
