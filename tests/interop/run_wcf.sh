#!/usr/bin/env bash
# Capture one WCF net.tcp scenario between real Mono peers, with the client's ground truth.
#
#   run_wcf.sh SCENARIO OUTDIR   ->  OUTDIR/wcf_SCENARIO.pcap  OUTDIR/wcf_SCENARIO.truth.jsonl
#
# SCENARIO: buffered | streamed | callback | concurrent.  Needs root (tcpdump), mono, mcs.
# When it may, the script re-runs itself in a fresh network namespace whose loopback has a 1500-byte
# MTU: segments then look like a LAN's (a 400 KB envelope spans ~300 segments instead of 7) and
# parallel runs cannot collide on port 8506. Without that privilege (or without iproute2's `ip`) it
# uses the host's lo as is: same bytes, but in 64 KB segments.
set -euo pipefail

usage() { echo "usage: $0 buffered|streamed|callback|concurrent OUTDIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
scenario=$1
outdir=$2
case $scenario in buffered | streamed | callback | concurrent) ;; *) usage ;; esac

if [[ -z ${WCF_NETNS:-} ]]; then
    if command -v ip >/dev/null && unshare --net true 2>/dev/null; then
        WCF_NETNS=1 exec unshare --net "$0" "$@"
    fi
    echo "run_wcf.sh: no network namespace available, capturing on the host's lo" >&2
    WCF_NETNS=0
fi
if [[ $WCF_NETNS == 1 ]]; then
    ip link set lo mtu 1500 gso_max_size 1500 gso_max_segs 1 up
fi

here=$(cd "$(dirname "$0")" && pwd)
port=8506
mkdir -p "$outdir" "$here/build"
work=$(mktemp -d)
server_pid=""
tcpdump_pid=""

cleanup() {
    local rc=$?
    for pid in $server_pid $tcpdump_pid; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then
        for log in "$work"/*.log; do
            [[ -s $log ]] && { echo "--- $log" >&2; tail -n 30 "$log" >&2; }
        done
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# Wait until FILE contains PATTERN while process PID is alive (at most ~10 s).
wait_for() {
    local file=$1 pattern=$2 pid=$3
    for _ in $(seq 200); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { echo "process $pid died before '$pattern'" >&2; return 1; }
        sleep 0.05
    done
    echo "timed out waiting for '$pattern' in $file" >&2
    return 1
}

# (Re)compile when a source is newer than peer.exe; into a private file, then renamed, so concurrent
# runs never execute a half-written peer.exe.
peer=$here/build/peer.exe
if [[ ! -f $peer || -n $(find "$here" -maxdepth 1 -name '*.cs' -newer "$peer") ]]; then
    mapfile -t refs < <(grep -v '^#' "$here/peer.refs" | sed 's/^/-r:/')
    mcs -nologo -debug -out:"$work/peer.exe" "${refs[@]}" "$here"/*.cs
    mv -f "$work/peer.exe.mdb" "$here/build/peer.exe.mdb"
    mv -f "$work/peer.exe" "$peer"
fi

export TZ=Europe/Moscow  # local DateTimes carry a +03:00 offset, as in iiko's home market
mono --debug "$peer" server "$scenario" "$port" "$work" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for "$work/server.log" "^listening" "$server_pid"
if [ "$scenario" = concurrent ]; then  # before the capture: see Clients.WarmUp
    timeout 60 mono --debug "$peer" warm "$scenario" "$port" "$work" >"$work/warm.log" 2>&1
    for _ in $(seq 100); do  # Mono closes its side lazily: no packet of this session may be captured
        [ -z "$(ss -Htn state established state fin-wait-1 state fin-wait-2 state close-wait state last-ack \
                state closing "( sport = :$port or dport = :$port )")" ] && break
        sleep 0.05
    done
fi

tcpdump -i lo -s 0 -B 16384 -Z root -w "$work/capture.pcap" "tcp port $port" 2>"$work/tcpdump.log" &
tcpdump_pid=$!
wait_for "$work/tcpdump.log" "listening on" "$tcpdump_pid"

timeout 60 mono --debug "$peer" client "$scenario" "$port" "$work" >"$work/client.log" 2>&1

sleep 0.2
touch "$work/stop"  # the server closes its host; its FINs (and any End record) get captured
for _ in $(seq 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
wait "$server_pid"
server_pid=""

sleep 1.2  # > tcpdump's 1 s ring-block timeout: SIGINT drops packets not yet handed to it
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid"
tcpdump_pid=""

[[ -s $work/capture.pcap && -s $work/truth.jsonl ]] || { echo "empty capture or truth" >&2; exit 1; }
grep -q "^0 packets dropped by kernel" "$work/tcpdump.log" || { echo "tcpdump lost packets" >&2; exit 1; }
# Complete means every connection the server accepted was seen to its end: each one that got a SYN-ACK
# also got a server FIN (counted per peer, since loopback captures do contain retransmitted FINs).
count() {
    tcpdump -nr "$work/capture.pcap" "tcp src port $port and tcp[tcpflags] & $1 != 0" 2>/dev/null |
        awk '{print $5}' | sort -u | wc -l
}
syns=$(count tcp-syn)
fins=$(count tcp-fin)
[[ $syns -gt 0 && $syns -eq $fins ]] || { echo "capture incomplete: $syns connections, $fins closed" >&2; exit 1; }
mv -f "$work/capture.pcap" "$outdir/wcf_$scenario.pcap"
mv -f "$work/truth.jsonl" "$outdir/wcf_$scenario.truth.jsonl"
