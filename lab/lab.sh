#!/usr/bin/env bash
# The three-master lab of LAB.md on this machine: hosts kcm-1..3 (systemd-nspawn
# containers with systemd as PID 1, sshd, their own netns on bridge kplay-br0) and a
# control plane (etcd + kube-apiserver on 198.18.0.1:6443) with a lab CA.
#
#   lab/lab.sh up       bring the lab up; again while up: says so, changes nothing
#   lab/lab.sh status   each host and the control plane: up or not, and why
#   lab/lab.sh down     stop everything the lab started, by pid; remove its mounts,
#                       namespaces, links and state; the caches stay
#   lab/lab.sh env      the lab's paths as KEY=VALUE lines (for tests and scripts)
#
# Caches (kept by down): $KPLAY_CACHE/rootfs (mmdebstrap), $KPLAY_CACHE/k8s-<version>
# (lab/build-k8s.sh), $KPLAY_CACHE/lab/{pki,ssh} (credentials, so the inventory and
# known_hosts stay valid from one lab to the next).
# Lab state (removed by down): $KPLAY_CACHE/lab/state (overlays, etcd data) and
# /run/kplay-lab (pid files).
set -euo pipefail

KPLAY_CACHE=${KPLAY_CACHE:-/var/cache/kplay}
K8S_VERSION=${K8S_VERSION:-v1.37.2}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

LAB=$KPLAY_CACHE/lab
PKI=$LAB/pki
SSHD=$LAB/ssh
LOGS=$LAB/log
STATE=$LAB/state
RUN=${KPLAY_LAB_RUN:-/run/kplay-lab}
K8S=$KPLAY_CACHE/k8s-$K8S_VERSION
KUBECONFIG_ADMIN=$LAB/admin.kubeconfig

BRIDGE=kplay-br0
GATEWAY=198.18.0.1
HOSTS=(kcm-1 kcm-2 kcm-3)
APISERVER=https://$GATEWAY:6443
ETCD=http://127.0.0.1:2379
SERVICE_CIDR=10.254.0.0/16

# What the hosts' root filesystem holds. python3 lets Ansible itself run against the
# lab (for comparisons); curl and sudo are for the document's checks and become.
ROOTFS_PKGS=systemd,systemd-sysv,dbus,openssh-server,iproute2,procps,python3,sudo,curl
ROOTFS=$KPLAY_CACHE/rootfs/bookworm-$(printf '%s' "$ROOTFS_PKGS" | sha256sum | cut -c1-8)

# Outer machine commands and the Debian packages that provide them.
DEB_CMDS="systemd-nspawn:systemd-container mmdebstrap:mmdebstrap etcd:etcd-server
ip:iproute2 ss:iproute2 openssl:openssl ssh:openssh-client ssh-keygen:openssh-client
curl:curl nsenter:util-linux mountpoint:util-linux flock:util-linux ps:procps systemd-id128:systemd"

ip_of() { echo "198.18.0.1${1#kcm-}"; }

say() { printf '%s\n' "$*"; }
step() { printf '==> %s\n' "$*"; }
die() {
	printf 'lab: %s\n' "$*" >&2
	exit 1
}

# alive PID: the process exists and is not a zombie (this machine's PID 1 may not
# reap the processes the lab leaves to it).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

cmdline() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline"; }

# pid_from FILE PATTERN: the pid recorded in FILE if that process is alive and its
# command line contains PATTERN (so a reused pid is never taken for the lab's).
pid_from() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(cat "$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	cmdline "$pid" | grep -qF -- "$2" || return 1
	echo "$pid"
}

# by_arg ARG: a live process that has ARG (a path only the lab uses) as one of its
# arguments, for when its pid file is gone. The regex starts with a bracket so that
# grep's own command line, which holds the regex, does not match it.
by_arg() {
	local re p
	re=$(printf '%s' "${1:1}" | sed 's/[][\.*^$+?(){}|]/\\&/g')
	for p in $(grep -lsaEz -- "^[${1:0:1}]$re\$" /proc/[0-9]*/cmdline | cut -d/ -f3); do
		[ "$p" != "$$" ] && alive "$p" && echo "$p" && return 0
	done
	return 1
}

# stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS; waits until it is gone.
stop_pid() {
	local pid=$1 secs=$2 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	say "warning: pid $pid did not exit"
}

host_dir() { echo "$STATE/hosts/$1"; }
host_root() { echo "$STATE/hosts/$1/root"; }

# host_nspawn H: pid of the host's systemd-nspawn.
host_nspawn() { pid_from "$RUN/$1.pid" "--machine=$1 " || by_arg "$STATE/hosts/$1/root"; }

# host_init H: pid (outside) of the host's PID 1: the process whose root is the host's
# overlay and whose pid in its own namespace is 1.
host_init() {
	local root dev pid
	root=$(host_root "$1")
	mountpoint -q "$root" 2>/dev/null || return 1
	dev=$(stat -c %d "$root")
	if [ -f "$RUN/$1.init" ]; then
		pid=$(cat "$RUN/$1.init")
		if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && [ "$(stat -Lc %d "/proc/$pid/root" 2>/dev/null)" = "$dev" ]; then
			echo "$pid"
			return 0
		fi
	fi
	# nspawn is the subreaper of its container, so PID 1 is normally its child; after a
	# killed nspawn, look among every process of the host.
	local npid candidates
	candidates=$(if npid=$(host_nspawn "$1"); then ps -o pid= --ppid "$npid"; else host_procs "$1"; fi)
	for pid in $candidates; do
		[ "$(stat -Lc %d "/proc/$pid/root" 2>/dev/null)" = "$dev" ] || continue
		if grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$pid/status" 2>/dev/null; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# host_procs H: every process running inside the host (its root is the host's overlay).
host_procs() {
	local root dev
	root=$(host_root "$1")
	mountpoint -q "$root" 2>/dev/null || return 0
	dev=$(stat -c %d "$root")
	# One stat for all processes: the machine may run thousands.
	stat -Lc '%d %n' /proc/[0-9]*/root 2>/dev/null | awk -v dev="$dev" '$1 == dev {split($2, f, "/"); print f[3]}'
	return 0
}

# stray_pids: processes started by the lab, found by an argument only the lab uses
# (etcd's data dir, the apiserver's cert dir, a host's root), for when pid files are gone.
stray_pids() {
	grep -lsaEz -- "^($STATE/etcd|--cert-dir=$STATE/apiserver|$STATE/hosts/[^/]+/root)\$" /proc/[0-9]*/cmdline |
		cut -d/ -f3 | grep -vx "$$" || true
}

# spawn CMD...: runs CMD in a new session with no file descriptor but 0-2 (which the
# caller redirects). Whatever lab.sh inherited stays behind: `flock LOCK lab.sh up`
# (without -o) hands its lock to lab.sh, and a daemon keeping it would hold the lock
# for as long as the lab stays up.
spawn() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
	done
	exec setsid "$@"
}

in_host() {
	local init=$1
	shift
	nsenter -t "$init" -m -u -i -n -p -- "$@"
}

ssh_host() {
	local h=$1
	shift
	ssh -F /dev/null -i "$SSHD/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSHD/known_hosts" \
		-o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=3 -o LogLevel=ERROR \
		"root@$(ip_of "$h")" "$@"
}

etcd_pid() { pid_from "$RUN/etcd.pid" "--data-dir $STATE/etcd" || by_arg "$STATE/etcd"; }
apiserver_pid() { pid_from "$RUN/kube-apiserver.pid" "--cert-dir=$STATE/apiserver" || by_arg "--cert-dir=$STATE/apiserver"; }

readyz() {
	curl -sS --max-time 3 --cacert "$PKI/ca.pem" --cert "$PKI/admin.pem" --key "$PKI/admin-key.pem" \
		"$APISERVER/readyz" 2>&1
}

# ---------------------------------------------------------------- preflight

need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root: the lab creates network namespaces, mounts and containers (try: sudo make lab-$1)"
}

# have_cmd CMD: an executable CMD is on PATH (bash's `command -v` alone also accepts a
# file that is not executable).
have_cmd() {
	local p
	p=$(command -v "$1" 2>/dev/null) && [ -x "$p" ]
}

ensure_packages() {
	local missing="" pair cmd pkg
	for pair in $DEB_CMDS; do
		cmd=${pair%%:*} pkg=${pair#*:}
		have_cmd "$cmd" || case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
	done
	[ -z "$missing" ] && return 0
	command -v apt-get >/dev/null || die "missing commands from Debian packages:$missing, and there is no apt-get to install them"
	step "installing Debian packages:$missing"
	mkdir -p "$LOGS"
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 $missing; } >"$LOGS/apt.log" 2>&1; then
		die "installing$missing failed; log: $LOGS/apt.log"
	fi
	for pair in $DEB_CMDS; do
		have_cmd "${pair%%:*}" || die "${pair%%:*} is still missing after installing ${pair#*:}; log: $LOGS/apt.log"
	done
}

check_kernel() {
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
	grep -qw overlay /proc/filesystems || die "the kernel has no overlay filesystem (needed for the hosts' root filesystems)"
}

# free_mib DIR: MiB available on DIR's filesystem.
free_mib() { df -Pm "$1" | awk 'NR==2 {print $4}'; }

check_space() {
	local need=1024 what="hosts' overlays and logs" have
	[ -f "$ROOTFS/.kplay-rootfs" ] || { need=$((need + 1024)) what="$what, root filesystem"; }
	have_k8s || { need=$((need + 1024)) what="$what, Kubernetes binaries"; }
	have=$(free_mib "$KPLAY_CACHE")
	[ "$have" -ge "$need" ] || die "no disk space: $KPLAY_CACHE has ${have} MiB free, the lab needs ${need} MiB ($what)"
	if ! have_k8s && command -v go >/dev/null; then
		local gc
		gc=$(go env GOCACHE)
		mkdir -p "$gc"
		have=$(free_mib "$gc")
		[ "$have" -ge 4096 ] || die "no disk space: building Kubernetes needs 4096 MiB in $gc (Go build cache), it has $have MiB"
	fi
}

check_memory() {
	local avail
	avail=$(awk '/^MemAvailable:/ {print int($2/1024)}' /proc/meminfo)
	[ "$avail" -ge 2048 ] || die "not enough memory: $avail MiB available, the lab needs 2048 MiB"
}

have_k8s() { [ -x "$K8S/kube-apiserver" ] && [ -x "$K8S/kube-controller-manager" ]; }

# ---------------------------------------------------------------- caches

ensure_rootfs() {
	if [ -f "$ROOTFS/.kplay-rootfs" ]; then
		say "rootfs: cached in $ROOTFS"
		return 0
	fi
	step "building the hosts' root filesystem with mmdebstrap into $ROOTFS (about a minute, once)"
	mkdir -p "$(dirname "$ROOTFS")" "$LOGS"
	local tmp log=$KPLAY_CACHE/rootfs/build.log
	tmp=$(mktemp -d "$ROOTFS.tmp.XXXXXX")
	if ! mmdebstrap --variant=minbase --include="$ROOTFS_PKGS" bookworm "$tmp" >"$log" 2>&1; then
		rm -rf "$tmp"
		die "building the root filesystem failed; log: $log"
	fi
	printf '%s\n' "$ROOTFS_PKGS" >"$tmp/.kplay-rootfs"
	chmod 755 "$tmp"
	rm -rf "$ROOTFS"
	mv "$tmp" "$ROOTFS"
	say "rootfs: built in $ROOTFS ($(du -sm "$ROOTFS" | cut -f1) MiB)"
}

ensure_k8s() {
	if have_k8s; then
		say "kubernetes $K8S_VERSION: cached in $K8S"
		return 0
	fi
	step "building kube-apiserver and kube-controller-manager $K8S_VERSION (7-8 minutes, once)"
	KPLAY_CACHE=$KPLAY_CACHE K8S_VERSION=$K8S_VERSION "$here/build-k8s.sh" || die "the Kubernetes build failed (its log path is above)"
	have_k8s || die "the Kubernetes build left no binaries in $K8S"
}

# ---------------------------------------------------------------- credentials

# Each credential is made once and kept: a second lab-up rewrites nothing, and the
# inventory's paths and the hosts' known keys stay the same from one lab to the next.

# sign NAME SUBJECT EXTENSIONS: a leaf key and certificate signed by the lab CA.
sign() {
	local name=$1 subj=$2 ext=$3 tmp
	tmp=$(mktemp -d)
	openssl genrsa -traditional -out "$tmp/key.pem" 2048 2>/dev/null
	openssl req -new -key "$tmp/key.pem" -subj "$subj" -out "$tmp/req.csr"
	printf '%s\n' "$ext" >"$tmp/ext.cnf"
	openssl x509 -req -in "$tmp/req.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca-key.pem" -CAcreateserial \
		-days 3650 -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" 2>/dev/null
	install -m 0600 "$tmp/key.pem" "$PKI/$name-key.pem"
	install -m 0644 "$tmp/cert.pem" "$PKI/$name.pem"
	rm -rf "$tmp"
	rm -f "$PKI/ca.srl"
	say "pki: issued $PKI/$name.pem ($subj)"
}

leaf_ok() {
	[ -s "$PKI/$1.pem" ] && [ -s "$PKI/$1-key.pem" ] &&
		openssl verify -CAfile "$PKI/ca.pem" "$PKI/$1.pem" >/dev/null 2>&1 &&
		openssl x509 -noout -checkend 86400 -in "$PKI/$1.pem" >/dev/null 2>&1 &&
		[ "$(openssl x509 -noout -pubkey -in "$PKI/$1.pem" | sha256sum)" = "$(openssl pkey -pubout -in "$PKI/$1-key.pem" 2>/dev/null | sha256sum)" ]
}

ensure_pki() {
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	if ! { [ -s "$PKI/ca.pem" ] && [ -s "$PKI/ca-key.pem" ] && openssl x509 -noout -checkend 86400 -in "$PKI/ca.pem" >/dev/null 2>&1; }; then
		rm -f "$PKI"/*.pem
		# RSA in PKCS#1 as cfssl writes it: the playbook's cert module signs the KCM
		# certificate with this key and KCM uses it as its cluster signing key.
		openssl genrsa -traditional -out "$PKI/ca-key.pem" 2048 2>/dev/null
		chmod 600 "$PKI/ca-key.pem"
		openssl req -x509 -new -key "$PKI/ca-key.pem" -sha256 -days 3650 -subj "/CN=kubernetes-ca/O=kplay-lab" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
			-out "$PKI/ca.pem"
		say "pki: made the lab CA $PKI/ca.pem and $PKI/ca-key.pem"
	fi
	leaf_ok kube-apiserver || sign kube-apiserver "/CN=kube-apiserver/O=kplay-lab" \
		"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$GATEWAY,IP:127.0.0.1,IP:10.254.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
	leaf_ok admin || sign admin "/CN=admin/O=system:masters" \
		"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	if ! [ -s "$PKI/sa.key" ] || ! [ -s "$PKI/sa.pub" ]; then
		openssl genrsa -traditional -out "$PKI/sa.key" 2048 2>/dev/null
		chmod 600 "$PKI/sa.key"
		openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
		say "pki: made the service-account key pair $PKI/sa.key, $PKI/sa.pub"
	fi
	write_if_changed "$KUBECONFIG_ADMIN" 0600 "$(admin_kubeconfig)"
	# The playbook issues the KCM certificate here (the inventory's kcm_work_dir).
	[ -d "$LAB/kcm" ] || { mkdir -p "$LAB/kcm" && chmod 700 "$LAB/kcm" && say "made $LAB/kcm for the KCM certificate"; }
}

admin_kubeconfig() {
	cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kplay-lab
  cluster:
    server: $APISERVER
    certificate-authority-data: $(base64 -w0 "$PKI/ca.pem")
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 "$PKI/admin.pem")
    client-key-data: $(base64 -w0 "$PKI/admin-key.pem")
contexts:
- name: kplay-lab
  context:
    cluster: kplay-lab
    user: admin
current-context: kplay-lab
EOF
}

# write_if_changed FILE MODE CONTENT: so that a second lab-up changes nothing.
write_if_changed() {
	if [ -f "$1" ] && [ "$(cat "$1")" = "$3" ]; then
		return 0
	fi
	printf '%s\n' "$3" >"$1.tmp"
	chmod "$2" "$1.tmp"
	mv "$1.tmp" "$1"
	say "wrote $1"
}

ensure_ssh_keys() {
	mkdir -p "$SSHD/hostkeys"
	chmod 700 "$SSHD"
	if ! [ -s "$SSHD/id_ed25519" ]; then
		ssh-keygen -q -t ed25519 -N '' -C kplay-lab -f "$SSHD/id_ed25519"
		say "ssh: made the lab's key $SSHD/id_ed25519"
	fi
	local h kh=""
	for h in "${HOSTS[@]}"; do
		# One ed25519 host key per host and no other: whatever algorithm a client
		# prefers, the host offers the key that known_hosts lists.
		if ! [ -s "$SSHD/hostkeys/$h/ssh_host_ed25519_key" ]; then
			mkdir -p "$SSHD/hostkeys/$h"
			ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$SSHD/hostkeys/$h/ssh_host_ed25519_key"
			say "ssh: made $h's host key"
		fi
		kh+="$h,$(ip_of "$h") $(cut -d' ' -f1,2 "$SSHD/hostkeys/$h/ssh_host_ed25519_key.pub")"$'\n'
	done
	write_if_changed "$SSHD/known_hosts" 0644 "${kh%$'\n'}"
}

# ---------------------------------------------------------------- network

ensure_bridge() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE (is this a privileged root?)"
		say "net: made bridge $BRIDGE"
	fi
	if ! ip -4 -o addr show dev "$BRIDGE" | grep -qw "$GATEWAY/24"; then
		ip addr add "$GATEWAY/24" dev "$BRIDGE"
		say "net: $BRIDGE has $GATEWAY/24"
	fi
	no_ipv6 "$BRIDGE"
	ip link show "$BRIDGE" | grep -q ',UP' || { ip link set "$BRIDGE" up && say "net: $BRIDGE up"; }
}

ensure_netns() {
	local h=$1 veth=v$1 addr
	addr=$(ip_of "$h")
	if ! ip netns list | grep -qw "^$h"; then
		ip netns add "$h" || die "cannot create network namespace $h"
		say "net: made namespace $h"
	fi
	if ! ip link show "$veth" >/dev/null 2>&1; then
		ip -n "$h" link del eth0 2>/dev/null || true
		ip link add "$veth" type veth peer name eth0 netns "$h" || die "cannot create veth $veth for $h"
		say "net: made link $veth <-> $h:eth0"
	fi
	ip link show "$veth" | grep -q "master $BRIDGE" || ip link set "$veth" master "$BRIDGE"
	ip link show "$veth" | grep -q ',UP' || ip link set "$veth" up
	ip -n "$h" -4 -o addr show dev eth0 | grep -qw "$addr/24" || ip -n "$h" addr add "$addr/24" dev eth0
	ip -n "$h" link show eth0 | grep -q ',UP' || ip -n "$h" link set eth0 up
	ip -n "$h" link show lo | grep -q ',UP' || ip -n "$h" link set lo up
	# No default route (LAB.md has one): a host can address 198.18.0.0/24 and nothing
	# else, even on a machine that forwards packets.
	if [ -n "$(ip -n "$h" route show default)" ]; then ip -n "$h" route del default; fi
	# Nor any IPv6, not even link-local chatter on the bridge.
	no_ipv6 "$veth"
	[ "$(ip netns exec "$h" cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null)" = 1 ] ||
		ip netns exec "$h" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6' 2>/dev/null || true
}

no_ipv6() {
	local f=/proc/sys/net/ipv6/conf/$1/disable_ipv6
	[ ! -w "$f" ] || [ "$(cat "$f")" = 1 ] || echo 1 >"$f"
}

# ---------------------------------------------------------------- hosts

# host_up H: the host's nspawn and PID 1 are alive.
host_up() { host_nspawn "$1" >/dev/null && host_init "$1" >/dev/null; }

# host_answers H: sshd on a running host answers as H. A link that was just
# set up again (ensure_netns) may take a moment to carry the first
# connection; a host is only restarted, which wipes it, after 15 s of
# silence.
host_answers() {
	local h=$1 i
	for ((i = 0; i < 5; i++)); do
		[ "$(ssh_host "$h" hostname 2>/dev/null)" = "$h" ] && return 0
		sleep 1
	done
	return 1
}

# clean_host H: whatever an earlier lab left of this host: processes, mount, overlay.
clean_host() {
	local h=$1 root dir pid i
	dir=$(host_dir "$h")
	root=$(host_root "$h")
	if pid=$(host_nspawn "$h"); then stop_pid "$pid" 20; fi
	if mountpoint -q "$root" 2>/dev/null; then
		# Orphans of a killed nspawn still run with the overlay as their root; the
		# host is being wiped, so no orderly shutdown: SIGKILL to its PID 1 ends its
		# whole pid namespace.
		local procs
		procs=$(host_procs "$h")
		if [ -n "$procs" ]; then
			say "$h: killing $(echo $procs | wc -w) leftover processes of the host (its nspawn is gone)"
		fi
		for pid in $procs; do kill -KILL "$pid" 2>/dev/null || true; done
		for pid in $procs; do
			for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
		done
		umount "$root" 2>/dev/null || umount -l "$root"
	fi
	rm -f "$RUN/$h.pid" "$RUN/$h.init"
	rm -rf "$dir"
}

start_host() {
	local h=$1 dir root unit o
	dir=$(host_dir "$h")
	root=$(host_root "$h")
	clean_host "$h"
	mkdir -p "$dir/upper" "$dir/work" "$root"
	mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$dir/upper,workdir=$dir/work" "$root" ||
		die "cannot mount the overlay for $h at $root (overlayfs needs an upper dir on a filesystem such as ext4 or xfs, not on overlayfs: point KPLAY_CACHE elsewhere)"

	echo "$h" >"$root/etc/hostname"
	{
		echo "127.0.0.1 localhost"
		echo "$GATEWAY kplay-lab"
		for o in "${HOSTS[@]}"; do echo "$(ip_of "$o") $o"; done
	} >"$root/etc/hosts"
	systemd-id128 new >"$root/etc/machine-id"
	install -d -m 0700 "$root/root/.ssh"
	install -m 0600 "$SSHD/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
	rm -f "$root"/etc/ssh/ssh_host_*
	install -m 0600 "$SSHD/hostkeys/$h/ssh_host_ed25519_key" "$root/etc/ssh/ssh_host_ed25519_key"
	install -m 0644 "$SSHD/hostkeys/$h/ssh_host_ed25519_key.pub" "$root/etc/ssh/ssh_host_ed25519_key.pub"
	# Timers that reach for the network (apt) or the disk (fstrim, e2scrub) would fail in
	# the lab and leave systemd "degraded" hours later.
	for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
		ln -sf /dev/null "$root/etc/systemd/system/$unit"
	done
	cat >"$root/etc/ssh/sshd_config.d/kplay-lab.conf" <<EOF
# Written by kplay's lab/lab.sh.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
EOF

	mkdir -p "$RUN" "$LOGS"
	spawn systemd-nspawn -D "$root" --machine="$h" --network-namespace-path="/run/netns/$h" \
		--register=no --keep-unit --link-journal=no -b </dev/null >"$LOGS/$h.log" 2>&1 8>&- &
	echo $! >"$RUN/$h.pid"
}

# wait_host H DEADLINE: systemd in the host says running and sshd answers with the
# host's name over a host-key-checked connection.
wait_host() {
	local h=$1 deadline=$2 pid init="" st="" name=""
	while :; do
		pid=$(host_nspawn "$h") || die "$h: systemd-nspawn exited; log: $LOGS/$h.log: $(tail -3 "$LOGS/$h.log" | tr "\n" " ")"
		if [ -z "$init" ]; then
			init=$(host_init "$h") && echo "$init" >"$RUN/$h.init" || init=""
		fi
		if [ -n "$init" ]; then
			st=$(in_host "$init" systemctl is-system-running 2>/dev/null) || true
			if [ "$st" = running ]; then
				name=$(ssh_host "$h" hostname 2>"$LOGS/$h.ssh.log") || true
				[ "$name" = "$h" ] && return 0
			fi
			if [ "$st" = degraded ]; then
				failed=$(in_host "$init" systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')
				# Under heavy load this boot-time utmp oneshot can fail with
				# 219/CGROUP; it records a runlevel and nothing depends on it.
				if [ "$failed" = "systemd-update-utmp-runlevel.service " ]; then
					in_host "$init" systemctl reset-failed systemd-update-utmp-runlevel.service || true
				else
					die "$h: systemd says degraded; failed units: $failed"
				fi
			fi
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			[ -n "$init" ] || die "$h: no PID 1 inside the container; log: $LOGS/$h.log"
			[ "$st" = running ] || die "$h: systemd is '${st:-not answering}' after the time allowed; log: $LOGS/$h.log"
			die "$h: sshd did not answer as $h at $(ip_of "$h"): $(cat "$LOGS/$h.ssh.log")"
		fi
		sleep 0.3
	done
}

# ---------------------------------------------------------------- control plane

port_free() { ! ss -Hltn "sport = :$2" | awk '{print $4}' | grep -qE "^($1|0\.0\.0\.0|\*|\[::\]):$2$"; }

start_etcd() {
	if etcd_pid >/dev/null; then return 1; fi
	# etcd died (or the lab was killed): its data may be torn, and an apiserver that
	# outlived it would hold a cache of the old store. The lab's cluster holds nothing
	# worth keeping, so the control plane starts afresh.
	local pid
	if pid=$(apiserver_pid); then
		say "kube-apiserver: stopping pid $pid (etcd is gone; the control plane starts afresh)"
		stop_pid "$pid" 15
	fi
	rm -rf "$STATE/etcd"
	port_free 127.0.0.1 2379 && port_free 127.0.0.1 2380 ||
		die "127.0.0.1:2379 or :2380 is taken by another process (not the lab's): $(ss -Hltnp 'sport = :2379 or sport = :2380' | awk '{print $4, $6}' | tr '\n' ' ')"
	mkdir -p "$STATE/etcd" "$RUN" "$LOGS"
	chmod 700 "$STATE/etcd"
	spawn etcd --name kplay-lab --data-dir "$STATE/etcd" \
		--listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster kplay-lab=http://127.0.0.1:2380 --initial-cluster-state new \
		</dev/null >"$LOGS/etcd.log" 2>&1 8>&- &
	echo $! >"$RUN/etcd.pid"
}

start_apiserver() {
	if apiserver_pid >/dev/null; then return 1; fi
	port_free "$GATEWAY" 6443 || die "$GATEWAY:6443 is taken by another process: $(ss -Hltnp 'sport = :6443' | awk '{print $6}')"
	mkdir -p "$STATE/apiserver" "$RUN" "$LOGS"
	spawn "$K8S/kube-apiserver" \
		--advertise-address="$GATEWAY" --bind-address="$GATEWAY" --secure-port=6443 \
		--etcd-servers="$ETCD" \
		--client-ca-file="$PKI/ca.pem" \
		--tls-cert-file="$PKI/kube-apiserver.pem" --tls-private-key-file="$PKI/kube-apiserver-key.pem" \
		--authorization-mode=Node,RBAC \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-signing-key-file="$PKI/sa.key" \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-key-file="$PKI/ca.pem" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--enable-bootstrap-token-auth \
		--cert-dir="$STATE/apiserver" \
		--profiling=false \
		</dev/null >"$LOGS/kube-apiserver.log" 2>&1 8>&- &
	echo $! >"$RUN/kube-apiserver.pid"
}

wait_etcd() {
	local deadline=$1
	until curl -s --max-time 2 "$ETCD/health" | grep -q '"health":"true"'; do
		etcd_pid >/dev/null || die "etcd exited; log: $LOGS/etcd.log"
		[ "$SECONDS" -lt "$deadline" ] || die "etcd is not healthy at $ETCD after the time allowed; log: $LOGS/etcd.log"
		sleep 0.2
	done
}

wait_apiserver() {
	local deadline=$1 out
	while :; do
		out=$(readyz) && [ "$out" = ok ] && return 0
		apiserver_pid >/dev/null || die "kube-apiserver exited; log: $LOGS/kube-apiserver.log"
		[ "$SECONDS" -lt "$deadline" ] || die "kube-apiserver /readyz is not ok after the time allowed ($out); log: $LOGS/kube-apiserver.log"
		sleep 0.5
	done
}

# ---------------------------------------------------------------- commands

all_up() {
	local h
	ip link show "$BRIDGE" >/dev/null 2>&1 || return 1
	etcd_pid >/dev/null && apiserver_pid >/dev/null || return 1
	[ "$(readyz)" = ok ] || return 1
	for h in "${HOSTS[@]}"; do
		host_up "$h" || return 1
		[ "$(in_host "$(host_init "$h")" systemctl is-system-running 2>/dev/null)" = running ] || return 1
		[ "$(ssh_host "$h" hostname 2>/dev/null)" = "$h" ] || return 1
	done
}

summary() {
	local h
	say "  hosts       $(for h in "${HOSTS[@]}"; do printf '%s %s  ' "$h" "$(ip_of "$h")"; done)(ssh root@, systemd, sshd)"
	say "  apiserver   $APISERVER  (etcd $ETCD, service CIDR $SERVICE_CIDR)"
	say "  CA          $PKI/ca.pem  $PKI/ca-key.pem"
	say "  admin       $PKI/admin.pem  $PKI/admin-key.pem  kubeconfig $KUBECONFIG_ADMIN"
	say "  ssh         key $SSHD/id_ed25519  known_hosts $SSHD/known_hosts"
	say "  kcm binary  $K8S/kube-controller-manager  (its certificate goes to $LAB/kcm)"
	say "  inventory   $(cd "$here/.." && pwd)/inventory  (group kcm)"
	say "  state       $STATE  pids $RUN  logs $LOGS"
	say "  stop with   make lab-down"
	if ! grep -qF "$PKI/ca.pem" "$here/../inventory/group_vars/all.yml" 2>/dev/null; then
		say "note: inventory/group_vars/all.yml names the files of KPLAY_CACHE=/var/cache/kplay, not $KPLAY_CACHE; give kplay an inventory with these paths"
	fi
}

# lock: one lab-up or lab-down at a time.
lock() {
	mkdir -p "$LAB"
	exec 8>"$LAB/lock"
	flock -w 600 8 || die "another lab.sh up/down holds $LAB/lock"
}

cmd_up() {
	need_root up
	local t0=$SECONDS
	lock
	if all_up; then
		say "lab is already up; nothing changed"
		summary
		return 0
	fi
	ensure_packages
	check_kernel
	check_space
	check_memory
	ensure_rootfs
	ensure_k8s
	ensure_pki
	ensure_ssh_keys

	ensure_bridge
	local h
	for h in "${HOSTS[@]}"; do ensure_netns "$h"; done

	# Everything that takes time starts at once, then each is waited for.
	if start_etcd; then say "etcd: started (pid $(cat "$RUN/etcd.pid"))"; else say "etcd: up, kept (pid $(etcd_pid))"; fi
	if start_apiserver; then say "kube-apiserver: started (pid $(cat "$RUN/kube-apiserver.pid"))"; else say "kube-apiserver: up, kept (pid $(apiserver_pid))"; fi
	for h in "${HOSTS[@]}"; do
		if host_up "$h" && host_answers "$h"; then
			say "$h: up, kept (nspawn pid $(host_nspawn "$h"))"
		else
			start_host "$h"
			say "$h: booting (nspawn pid $(cat "$RUN/$h.pid"), log $LOGS/$h.log)"
		fi
	done
	local deadline=$((SECONDS + 90))
	wait_etcd "$deadline"
	for h in "${HOSTS[@]}"; do
		wait_host "$h" "$deadline"
		say "$h: running, sshd answers as $h at $(ip_of "$h")"
	done
	wait_apiserver "$deadline"
	say "kube-apiserver: /readyz ok at $APISERVER"
	say "lab is up ($((SECONDS - t0)) s):"
	summary
}

cmd_status() {
	need_root status
	local bad=0 h pid init st name mem
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		say "bridge       $BRIDGE: up ($(ip -4 -o addr show dev "$BRIDGE" | awk '{print $4}' | paste -sd' '))"
	else
		say "bridge       $BRIDGE: missing"
		bad=1
	fi
	if pid=$(etcd_pid); then
		if curl -s --max-time 2 "$ETCD/health" | grep -q '"health":"true"'; then
			say "etcd         up (pid $pid, $ETCD healthy)"
		else
			say "etcd         not healthy (pid $pid runs; log $LOGS/etcd.log)"
			bad=1
		fi
	else
		say "etcd         down ($([ -f "$RUN/etcd.pid" ] && echo "pid $(cat "$RUN/etcd.pid") is not running; log $LOGS/etcd.log" || echo "never started: no $RUN/etcd.pid"))"
		bad=1
	fi
	if pid=$(apiserver_pid); then
		st=$(readyz) || true
		if [ "$st" = ok ]; then
			say "apiserver    up (pid $pid, $APISERVER/readyz ok)"
		else
			say "apiserver    not ready (pid $pid runs; /readyz: $(echo "$st" | head -3 | tr '\n' ' '); log $LOGS/kube-apiserver.log)"
			bad=1
		fi
	else
		say "apiserver    down ($([ -f "$RUN/kube-apiserver.pid" ] && echo "pid $(cat "$RUN/kube-apiserver.pid") is not running; log $LOGS/kube-apiserver.log" || echo "never started: no $RUN/kube-apiserver.pid"))"
		bad=1
	fi
	for h in "${HOSTS[@]}"; do
		if ! ip netns list 2>/dev/null | grep -qw "^$h"; then
			say "$h        down (no network namespace $h)"
			bad=1
			continue
		fi
		if ! pid=$(host_nspawn "$h"); then
			if init=$(host_init "$h"); then
				say "$h        down (systemd-nspawn was killed, its systemd (pid $init) still runs; lab-up or lab-down cleans it up)"
			else
				say "$h        down (systemd-nspawn not running$([ -f "$RUN/$h.pid" ] && echo "; log $LOGS/$h.log"))"
			fi
			bad=1
			continue
		fi
		if ! init=$(host_init "$h"); then
			say "$h        down (nspawn pid $pid runs, but no PID 1 inside; log $LOGS/$h.log)"
			bad=1
			continue
		fi
		st=$(in_host "$init" systemctl is-system-running 2>/dev/null) || true
		name=$(ssh_host "$h" hostname 2>&1) || true
		if [ "$st" = running ] && [ "$name" = "$h" ]; then
			say "$h        up ($(ip_of "$h"), nspawn pid $pid, init pid $init, systemd running, sshd answers)"
		else
			say "$h        not ready (systemd: ${st:-no answer}; ssh: $(echo "$name" | head -2 | tr '\n' ' '))"
			bad=1
		fi
	done
	mem=$(lab_rss_mib)
	say "memory       ${mem} MiB resident in the lab's processes"
	return $bad
}

# lab_rss_mib: resident memory of every process of the lab (control plane, nspawns
# and everything inside the hosts), in MiB.
lab_rss_mib() {
	local pids="" h p
	pids+=" $(etcd_pid || true) $(apiserver_pid || true)"
	for h in "${HOSTS[@]}"; do
		pids+=" $(host_nspawn "$h" || true) $(host_procs "$h")"
	done
	for p in $pids; do awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null; done |
		awk '{s += $1} END {printf "%d", s/1024}'
}

cmd_down() {
	need_root down
	lock
	local h pid left
	# Hosts first, all at once: SIGTERM makes nspawn ask the host's systemd to shut down.
	for h in "${HOSTS[@]}"; do
		if pid=$(host_nspawn "$h"); then
			kill -TERM "$pid" 2>/dev/null || true
			say "$h: stopping (nspawn pid $pid)"
		fi
	done
	for h in "${HOSTS[@]}"; do
		clean_host "$h"
		if ip netns list 2>/dev/null | grep -qw "^$h"; then
			ip netns del "$h"
			say "net: removed namespace $h"
		fi
		# Deleting the namespace deletes its eth0 and with it the veth pair, but not
		# always before `ip` returns; what is left (a namespace made elsewhere) goes here.
		if ip link show "v$h" >/dev/null 2>&1; then
			sleep 0.2
			ip link del "v$h" 2>/dev/null && say "net: removed link v$h"
		fi
	done
	if pid=$(apiserver_pid); then
		stop_pid "$pid" 15
		say "kube-apiserver: stopped (pid $pid)"
	fi
	if pid=$(etcd_pid); then
		stop_pid "$pid" 15
		say "etcd: stopped (pid $pid)"
	fi
	# Leftovers whose pid files are gone: any process still running from the lab's state.
	for pid in $(stray_pids); do
		say "stopping leftover pid $pid: $(cmdline "$pid" | cut -c1-100)"
		stop_pid "$pid" 10
	done
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link del "$BRIDGE"
		say "net: removed bridge $BRIDGE"
	fi
	rm -rf "$STATE" "$RUN"
	left=$(leftovers)
	[ -z "$left" ] || die "lab-down left these behind:$left"
	say "lab is down (caches kept: $KPLAY_CACHE)"
}

# leftovers: whatever of the lab still exists on this machine, one item per line.
leftovers() {
	local h p
	for h in "${HOSTS[@]}"; do
		ip link show "v$h" >/dev/null 2>&1 && printf '\n  link v%s' "$h"
		[ -e "/run/netns/$h" ] && printf '\n  namespace %s' "$h"
	done
	ip link show "$BRIDGE" >/dev/null 2>&1 && printf '\n  bridge %s' "$BRIDGE"
	grep -F " $STATE/" /proc/self/mountinfo | awk '{printf "\n  mount %s", $5}'
	for p in $(stray_pids); do
		alive "$p" && printf '\n  process %s' "$p"
	done
	return 0
}

cmd_env() {
	cat <<EOF
KPLAY_CACHE=$KPLAY_CACHE
LAB_DIR=$LAB
LAB_STATE=$STATE
LAB_RUN=$RUN
LAB_LOGS=$LOGS
LAB_PKI=$PKI
LAB_SSH=$SSHD
LAB_ROOTFS=$ROOTFS
LAB_K8S=$K8S
LAB_BRIDGE=$BRIDGE
LAB_HOSTS=${HOSTS[*]}
LAB_APISERVER=$APISERVER
EOF
}

case "${1:-}" in
up) cmd_up ;;
rootfs)
	need_root up
	ensure_packages
	ensure_rootfs
	;;
status) cmd_status ;;
down) cmd_down ;;
env) cmd_env ;;
*)
	echo "usage: $0 up|status|down|env" >&2
	exit 2
	;;
esac
