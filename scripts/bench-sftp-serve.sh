#!/usr/bin/env bash
# Benchmark: OpenSSH `sftp put` of a large file to `xfer sftp-serve` vs a
# private OpenSSH sshd (internal-sftp), alternating, N runs each, medians;
# plus connect + auth + one `pwd` round. Loopback only; needs openssh-server.
# Usage: scripts/bench-sftp-serve.sh [XFER_BIN] [RUNS] [SIZE_MIB]
set -euo pipefail
XFER=${1:-target/release/xfer}
RUNS=${2:-5}
SIZE_MIB=${3:-256}
XFER=$(readlink -f "$XFER")
W=$(mktemp -d /dev/shm/xfer-bench.XXXXXX)
trap 'kill $XPID $SPID 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/xroot" "$W/sroot" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$W/id"
ssh-keygen -q -t ed25519 -N '' -f "$W/sshd_host"
cp "$W/id.pub" "$W/authorized_keys"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$W/big.bin"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SPORT=$(free_port)
cat > "$W/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $SPORT
HostKey $W/sshd_host
UsePAM no
StrictModes no
AuthorizedKeysFile $W/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
PidFile $W/sshd.pid
PermitRootLogin prohibit-password
MaxStartups 100:30:200
CFG
/usr/sbin/sshd -D -f "$W/sshd_config" -E "$W/sshd.log" & SPID=$!
"$XFER" sftp-serve --root "$W/xroot" --listen 127.0.0.1:0 --user "$(id -un)" \
  --authorized-keys "$W/authorized_keys" > "$W/xfer.out" 2> "$W/xfer.err" & XPID=$!
until [ -s "$W/xfer.out" ]; do sleep 0.05; done
XPORT=$(head -1 "$W/xfer.out" | grep -o '127.0.0.1:[0-9]*' | cut -d: -f2)
until (exec 3<>/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null; do sleep 0.05; done
head -1 "$W/xfer.out"
echo "OpenSSH: $(ssh -V 2>&1)"
SFTP=(sftp -q -i "$W/id" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
# Both servers write to tmpfs: xfer's root is xroot, sshd gets an absolute path.
printf 'put %s/big.bin big.bin\n' "$W" > "$W/xput.batch"
printf 'put %s/big.bin %s/sroot/big.bin\n' "$W" "$W" > "$W/sput.batch"
printf 'pwd\n' > "$W/pwd.batch"
now() { date +%s.%N; }
run() { # port cipher batch -> seconds
  local t0 t1; t0=$(now)
  "${SFTP[@]}" -c "$2" -P "$1" -b "$3" "$(id -un)@127.0.0.1" > /dev/null
  t1=$(now); echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.4f", m}'; }
printf '%-34s %-10s %10s %10s %8s\n' test server median_s MB/s runs
for cipher in chacha20-poly1305@openssh.com aes128-gcm@openssh.com; do
  : > "$W/x.t"; : > "$W/s.t"
  for _ in $(seq "$RUNS"); do
    run "$XPORT" "$cipher" "$W/xput.batch" >> "$W/x.t"; cmp -s "$W/big.bin" "$W/xroot/big.bin"; rm -f "$W/xroot/big.bin"
    run "$SPORT" "$cipher" "$W/sput.batch" >> "$W/s.t"; cmp -s "$W/big.bin" "$W/sroot/big.bin"; rm -f "$W/sroot/big.bin"
  done
  for s in x s; do
    m=$(median < "$W/$s.t"); name=$([ $s = x ] && echo xfer || echo sshd)
    printf '%-34s %-10s %10s %10.1f %8s\n' "put ${SIZE_MIB}MiB $cipher" "$name" "$m" "$(echo "$SIZE_MIB*1.048576/$m" | bc -l)" "$RUNS"
  done
done
: > "$W/x.t"; : > "$W/s.t"
for _ in $(seq $((RUNS * 4))); do
  run "$XPORT" chacha20-poly1305@openssh.com "$W/pwd.batch" >> "$W/x.t"
  run "$SPORT" chacha20-poly1305@openssh.com "$W/pwd.batch" >> "$W/s.t"
done
printf '%-34s %-10s %10s %10s %8s\n' "connect+auth+pwd" xfer "$(median < "$W/x.t")" - $((RUNS * 4))
printf '%-34s %-10s %10s %10s %8s\n' "connect+auth+pwd" sshd "$(median < "$W/s.t")" - $((RUNS * 4))
