#!/usr/bin/env bash
# Capture a real .NET Remoting conversation (Mono TcpChannel) on loopback port 8506.
# Usage: run_remoting.sh OUTDIR [CALLS]   -> OUTDIR/remoting_basic.pcap and OUTDIR/remoting_basic.truth.txt
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
calls=${2:-3}
port=8506
build="$here/../build/remoting"
mkdir -p "$build"
mcs -nologo -out:"$build/RemotingPeer.exe" -r:System.Runtime.Remoting.dll "$here/RemotingPeer.cs"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

tcpdump -i lo -U -s 0 -w "$out/remoting_basic.pcap" "tcp port $port" 2>/dev/null &
pids+=($!)
mono "$build/RemotingPeer.exe" server "$port" > "$build/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$build/server.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5  # tcpdump is attached by now
mono "$build/RemotingPeer.exe" client "$port" "$calls" > "$out/remoting_basic.truth.txt"
sleep 0.5
kill -INT "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
