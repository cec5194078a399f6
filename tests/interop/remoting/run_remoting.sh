#!/usr/bin/env bash
# Capture a real .NET Remoting conversation (Mono TcpChannel) on loopback port 8506.
# Usage: run_remoting.sh OUTDIR   -> OUTDIR/remoting.pcap and OUTDIR/remoting.truth.jsonl (the client's log)
# Like run_wcf.sh, it re-runs itself in a private network namespace when it may, so that other traffic on
# the host's port 8506 (a parallel test run) never lands in its capture; capture starts only once tcpdump
# says it is listening.
set -euo pipefail
if [[ -z ${REMOTING_NETNS:-} ]]; then
    if command -v ip >/dev/null && unshare --net true 2>/dev/null; then
        REMOTING_NETNS=1 exec unshare --net "$0" "$@"
    fi
    echo "run_remoting.sh: no network namespace available, capturing on the host's lo" >&2
    REMOTING_NETNS=0
fi
if [[ $REMOTING_NETNS == 1 ]]; then
    ip link set lo up
fi
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
port=8506
build="$here/../build/remoting"
mkdir -p "$build"
export TZ=Europe/Moscow  # the orders' local times carry +03:00, as in the WCF captures
mcs -nologo -out:"$build/RemotingPeer.exe" -r:System.Runtime.Remoting.dll -r:System.ServiceModel.dll \
    -r:System.Runtime.Serialization.dll -r:System.Runtime.Serialization.Formatters.Soap.dll -r:System.Xml.dll "$here/RemotingPeer.cs" "$here/../Contracts.cs" "$here/../Data.cs" "$here/../Truth.cs"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

tcpdump -i lo -U --immediate-mode -B 16384 -s 0 -w "$out/remoting.pcap" "tcp port $port" 2>"$out/tcpdump.log" &
pids+=($!)
for _ in $(seq 200); do grep -q "listening on" "$out/tcpdump.log" 2>/dev/null && break; sleep 0.05; done
mono "$build/RemotingPeer.exe" server "$port" > "$out/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q listening "$out/server.log" 2>/dev/null && break; sleep 0.1; done
mono "$build/RemotingPeer.exe" client "$port" "$out/remoting.truth.jsonl"
mono "$build/RemotingPeer.exe" soap "$port" "$out/remoting.truth.jsonl"  # the SOAP formatter, appended
sleep 0.5  # the last segments (FINs, ACKs) reach the capture file
kill -INT "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
