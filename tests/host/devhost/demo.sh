#!/usr/bin/env bash
#
# demo.sh - `make demo`: the main job on Linux.  "kldload kqemu_clone.ko,
# run multiple qemu instances": devhost runs the host kernel with kqemu and
# kqemu_clone loaded (engine conform, so every client runs the whole kqemu
# protocol), DEMO_N (default 8) qemu-like real processes use /dev/kqemu at
# the same time, each on its own clone; then the baseline, kqemu alone,
# where the second process gets EBUSY.
#
# Environment (set by mk/devhost.mk): DEVHOST, KQEMU_RUN, HK_MODULE_PATH,
# DEMO_N.  Exits non-zero if anything is not as it should be.
#
# Reading host-kernel state from outside: devhost serves it in the mount,
# /.sysctl/<name> (a sysctl's value) and /.files (devhost's open files:
# pid hostpid fd node clone ioctls).

set -u
N=${DEMO_N:-8}
: "${DEVHOST:?}" "${KQEMU_RUN:?}"
work=
dh_pid=
clients=()

say() { printf '%s\n' "$*"; }
fail() { say "demo: FAILED: $*" >&2; exit 1; }

cleanup()
{
	local p
	for p in "${clients[@]}"; do kill -9 "$p" 2>/dev/null; done
	if [ -n "$dh_pid" ]; then
		kill -TERM "$dh_pid" 2>/dev/null
		wait "$dh_pid" 2>/dev/null
	fi
	if [ -n "$work" ]; then
		grep -q " $work/mnt " /proc/mounts && fusermount3 -u "$work/mnt" 2>/dev/null
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
	say "demo: needs root: devhost mounts FUSE with allow_other and reads the"
	say "      clients' memory (process_vm_readv).  Run: sudo make demo"
	exit 1
fi
if ! [ -c /dev/fuse ]; then
	say "demo: FUSE is unavailable: no /dev/fuse (modprobe fuse; in a container"
	say "      run with --device /dev/fuse --cap-add SYS_ADMIN)"
	exit 1
fi
case "$N" in ''|*[!0-9]*) fail "DEMO_N must be a number" ;; esac
[ "$N" -ge 2 ] || fail "DEMO_N must be at least 2"

work=$(mktemp -d /tmp/kqemu-demo.XXXXXX) || fail "mktemp"
mnt=$work/mnt
mkdir "$mnt"

# start_devhost ARGS...: serve $mnt in the background.
start_devhost()
{
	local n=0
	"$DEVHOST" "$@" "$mnt" 2>"$work/devhost.log" &
	dh_pid=$!
	while ! [ -e "$mnt/.files" ]; do
		if ! kill -0 "$dh_pid" 2>/dev/null; then
			wait "$dh_pid"
			local rc=$?
			dh_pid=
			cat "$work/devhost.log" >&2
			[ $rc -eq 77 ] && fail "FUSE is unavailable (cannot mount on $mnt)"
			fail "devhost exited $rc"
		fi
		n=$((n + 1))
		[ $n -gt 200 ] && fail "devhost did not serve within 20 s"
		sleep 0.1
	done
}

stop_devhost()
{
	kill -TERM "$dh_pid"
	wait "$dh_pid"
	local rc=$?
	dh_pid=
	grep 'shutdown:' "$work/devhost.log" | sed 's/^/  /'
	[ $rc -eq 0 ] || { cat "$work/devhost.log" >&2; fail "devhost exited $rc"; }
	grep -q -- '-- clean$' "$work/devhost.log" || fail "devhost shutdown not clean"
	grep -q " $mnt " /proc/mounts && fail "$mnt still mounted"
	return 0
}

sysctl_show()
{
	local name v
	for name in "$@"; do
		if v=$(cat "$mnt/.sysctl/debug.kqemu_clone.$name" 2>/dev/null); then
			if [ "$name" = listing ]; then
				# Its pid is the host kernel's; devhost's /.files
				# maps it to the real process.
				printf '  debug.kqemu_clone.listing (unit pid uid opens ops):\n'
				printf '%s\n' "$v" | awk -v files="$mnt/.files" '
				    BEGIN { while ((getline l < files) > 0) {
					split(l, f, " "); if (f[1] != "#") real[f[2]] = f[1] } }
				    NF >= 2 { printf "      %-24s <- real process %s\n", $0,
					($2 in real) ? real[$2] : "?" }'
			elif [ "$(printf '%s\n' "$v" | wc -l)" -gt 1 ]; then
				printf '  debug.kqemu_clone.%s:\n' "$name"
				printf '%s\n' "$v" | sed 's/^/      /'
			else
				printf '  debug.kqemu_clone.%-16s %s\n' "$name:" "$v"
			fi
		fi
	done
}

header()
{
	printf '  %-11s %-6s %-15s %-10s %-13s %s\n' \
	    "client pid" "fd" "clone" "RAM" "ioctls" "result"
}

# The client's status line as a table row.
row()
{
	awk '/^pid / {
		res = $12; for (i = 13; i <= NF; i++) res = res " " $i;
		printf "  %-11s %-6s %-15s %-10s %-13s %s\n", $2, $4, $6, $8, $10, res;
		next } { print "  " $0 }' "$1"
}

start=$(date +%s)
say "== kqemu_clone: $N qemu-like processes at once on /dev/kqemu"
say "   (devhost --load kqemu_clone -t hw.kqemu.engine=conform: QEMU 0.10's"
say "    whole kqemu sequence per client, each on its own clone of kqemu)"
start_devhost --load kqemu_clone -t hw.kqemu.engine=conform

declare -A pid_of done_of
for i in $(seq 1 "$N"); do
	ram=$((2 + (i - 1) % 8))
	"$KQEMU_RUN" --dev "$mnt/kqemu" --ram "$ram" --execs 400 \
	    --wait-file "$work/go" >"$work/c$i.out" 2>&1 &
	pid_of[$i]=$!
	clients+=($!)
done
n=0
while [ "$(grep -vc '^#' "$mnt/.files")" -lt "$N" ]; do
	n=$((n + 1))
	[ $n -gt 300 ] && fail "only $(grep -vc '^#' "$mnt/.files") of $N clients opened"
	for i in $(seq 1 "$N"); do
		kill -0 "${pid_of[$i]}" 2>/dev/null || { cat "$work/c$i.out"; fail "client $i exited early"; }
	done
	sleep 0.1
done
# Until every client has run its whole sequence (and waits for "go").
n=0
while [ "$(grep -c 'state=READY .* execs=400 ' "$mnt/.sysctl/hw.kqemu.list" 2>/dev/null)" != "$N" ]; do
	n=$((n + 1))
	[ $n -gt 600 ] && fail "the clients did not all run their sequence"
	sleep 0.1
done
say ""
say "-- all $N hold an instance now; ls of the devhost mount (kqemuN = clones):"
say "   $(ls "$mnt" | tr '\n' ' ')"
sysctl_show mode live listing
say "  hw.kqemu.list (kqemu's own view: one instance per clone, each its own state):"
awk '{ printf "      %-8s %-9s %-12s %-11s %-13s %s\n", $1, $2, $3, $5, $6, $14 }' \
    "$mnt/.sysctl/hw.kqemu.list"
live=$(cat "$mnt/.sysctl/debug.kqemu_clone.live" 2>/dev/null || echo "?")
[ "$live" = "$N" ] || fail "debug.kqemu_clone.live is $live, expected $N"

say ""
say "-- they finish (one line per client as it exits):"
header
touch "$work/go"
left=$N
while [ $left -gt 0 ]; do
	wait -n "${clients[@]}" 2>/dev/null
	for i in $(seq 1 "$N"); do
		[ -n "${done_of[$i]:-}" ] && continue
		kill -0 "${pid_of[$i]}" 2>/dev/null && continue
		wait "${pid_of[$i]}"
		rc=$?
		row "$work/c$i.out"
		done_of[$i]=$rc
		left=$((left - 1))
	done
done
bad=0
for i in $(seq 1 "$N"); do
	[ "${done_of[$i]}" -eq 0 ] && grep -q 'result ok$' "$work/c$i.out" || bad=$((bad + 1))
done
nclones=$(awk '/^pid / {print $6}' "$work"/c*.out | sort -u | wc -l)
[ $bad -eq 0 ] || fail "$bad of $N clients failed"
[ "$nclones" -eq "$N" ] || fail "$N clients shared $nclones clones"

n=0
while [ "$(cat "$mnt/.sysctl/debug.kqemu_clone.live")" != 0 ]; do
	n=$((n + 1))
	[ $n -gt 100 ] && fail "clones not reclaimed after the clients exited"
	sleep 0.1
done
say ""
say "-- the shim's view after they exited (no close(2): exit reclaimed each):"
sysctl_show mode live opens closes refused_proc refused_uid refused_total \
    refused_busy refused_nomem refused_detach bytes_per_clone
say "-- devhost shuts down: every host process exits, modules unload:"
stop_devhost

say ""
say "== baseline: kqemu alone (no kqemu_clone): one instance per cdev"
start_devhost --load kqemu -t hw.kqemu.engine=conform
header
"$KQEMU_RUN" --dev "$mnt/kqemu" --ram 4 --execs 100 --wait-file "$work/go2" \
    >"$work/b1.out" 2>&1 &
b1=$!
clients+=($b1)
n=0
while [ "$(grep -vc '^#' "$mnt/.files")" -lt 1 ]; do
	n=$((n + 1))
	[ $n -gt 300 ] && fail "baseline: first client did not open"
	sleep 0.1
done
# Its open holds kqemu's one instance from now on.
"$KQEMU_RUN" --dev "$mnt/kqemu" --ram 4 --expect EBUSY >"$work/b2.out" 2>&1
rc2=$?
row "$work/b2.out"
touch "$work/go2"
wait $b1
rc1=$?
row "$work/b1.out"
[ $rc1 -eq 0 ] || fail "baseline: the first client failed"
[ $rc2 -eq 0 ] || fail "baseline: the second client did not get EBUSY"
say "   (the second process got EBUSY: without the shim kqemu serves one qemu)"
stop_devhost

say ""
say "demo: OK ($N concurrent clients on kqemu_clone, EBUSY without it; $(( $(date +%s) - start )) s)"
