#!/usr/bin/env bash
# Capture [MS-NNS] handshakes between real GSS-API peers (MIT Kerberos, gss-ntlmssp), with their truth.
#
#   run_nns.sh OUTDIR   ->  OUTDIR/nns_auth.pcap  OUTDIR/nns_auth.truth.jsonl
#
# Needs root and Debian's krb5-kdc krb5-admin-server krb5-user python3-gssapi gss-ntlmssp tcpdump.
# Runs in a private network and UTS namespace (loopback with a 1500-byte MTU and no GSO, as on a LAN;
# hostname POS-1, which gss-ntlmssp sends as the NTLM workstation) with a throw-away KDC for realm
# STORE.LOCAL on 127.0.0.1:88. Only port 8506 is captured; the KDC exchange stays out of the file.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
outdir=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

if [[ -z ${NNS_NETNS:-} ]]; then
    NNS_NETNS=1 exec unshare --net --uts "$0" "$@"
fi
ip link set lo mtu 1500 gso_max_size 1500 gso_max_segs 1 up
hostname POS-1

work=$(mktemp -d)
pids=()
cleanup() {
    local rc=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ $rc -ne 0 && -s $work/kdc.log ]] && tail -n 20 "$work/kdc.log" >&2
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

cat >"$work/krb5.conf" <<CONF
[libdefaults]
    default_realm = STORE.LOCAL
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
[realms]
    STORE.LOCAL = {
        kdc = 127.0.0.1:88
    }
[domain_realm]
    .store.local = STORE.LOCAL
CONF
cat >"$work/kdc.conf" <<CONF
[kdcdefaults]
    kdc_tcp_listen = 88
    kdc_listen = 88
[realms]
    STORE.LOCAL = {
        database_name = $work/principal
        key_stash_file = $work/stash
        acl_file = $work/kadm5.acl
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$work/kdc.log
CONF
export KRB5_CONFIG=$work/krb5.conf KRB5_KDC_PROFILE=$work/kdc.conf KRB5_KTNAME=$work/service.keytab
export KRB5CCNAME=MEMORY:nns NTLM_USER_FILE=$work/ntlm_users
echo 'STORE:ivanov:Passw0rd!' >"$NTLM_USER_FILE"

kdb5_util create -s -r STORE.LOCAL -P "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >/dev/null
kadmin.local -q 'addprinc -pw Passw0rd! ivanov' >/dev/null
kadmin.local -q 'addprinc -randkey host/maincash.store.local' >/dev/null
kadmin.local -q "ktadd -k $KRB5_KTNAME host/maincash.store.local" >/dev/null
krb5kdc -n -P "$work/kdc.pid" &
pids+=($!)

tcpdump -i lo -s 0 -B 16384 -U --immediate-mode -w "$work/nns_auth.pcap" 'tcp port 8506' 2>"$work/tcpdump.log" &
pids+=($!)
for _ in $(seq 100); do
    grep -q 'listening on' "$work/tcpdump.log" 2>/dev/null && break
    sleep 0.05
done
sleep 0.3  # the KDC binds its port

/usr/bin/python3 "$here/nns_peers.py" spnego_kerberos kerberos spnego_ntlm ntlm ntlm_bad_password >"$work/nns_auth.truth.jsonl"

sleep 0.5
kill -INT "${pids[1]}"
wait "${pids[1]}" || true
grep -q '^0 packets dropped by kernel' "$work/tcpdump.log" || { cat "$work/tcpdump.log" >&2; exit 1; }
cp "$work/nns_auth.pcap" "$work/nns_auth.truth.jsonl" "$outdir/"
echo "wrote $outdir/nns_auth.pcap ($(tcpdump -r "$outdir/nns_auth.pcap" 2>/dev/null | wc -l) packets)"
