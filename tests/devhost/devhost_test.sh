#! /usr/bin/env atf-sh
#
# devhost_test: real Linux processes on the DragonFly drivers through devhost.
#
# Each case starts its own devhost on ./mnt in its kyua work directory,
# runs kqemu-run clients (QEMU 0.10's sequence) as real processes, and
# checks what devhost and the host kernel show: devhost's /.files (one line
# per open device file: pid hostpid fd node clone ioctls), the devfs nodes
# (autoclone clones appear as kqemuN files), /.sysctl/<name>, and devhost's
# shutdown report (leaks).  Every case's cleanup kills what it started and
# unmounts, also when the body failed.  Skipped, with the reason, only when
# FUSE cannot be mounted (not root, no /dev/fuse).

BIN=
DH_ARGS_CLONE="--load kqemu_clone -t hw.kqemu.engine=conform"

setup_bin()
{
	BIN=$(atf_get_srcdir)/../../bin
	[ -x "$BIN/devhost" ] || atf_fail "devhost not built in $BIN"
	[ -x "$BIN/kqemu-run" ] || atf_fail "kqemu-run not built in $BIN"
	# The modules of the same build.
	HK_MODULE_PATH=$(cd "$(atf_get_srcdir)/../../modules" && pwd)
	export HK_MODULE_PATH
}

need_module()
{
	[ -f "$HK_MODULE_PATH/$1.so" ] || atf_skip "module $1 is not built yet"
}

# wait_for EXPR [TENTHS]: poll a shell expression, 10 s by default.
wait_for()
{
	_n=0
	while ! eval "$1"; do
		_n=$((_n + 1))
		[ $_n -ge "${2:-100}" ] && return 1
		sleep 0.1
	done
	return 0
}

# start_devhost ARGS...: serve ./mnt; skip if FUSE cannot be mounted.
start_devhost()
{
	setup_bin
	_prev=
	for _a in "$@"; do
		[ "$_prev" = --load ] && need_module "$_a"
		_prev=$_a
	done
	mkdir -p mnt
	"$BIN/devhost" -v "$@" mnt 2>devhost.err &
	echo $! >devhost.pid
	if ! wait_for "[ -e mnt/.files ] || ! kill -0 $(cat devhost.pid) 2>/dev/null" 200; then
		cat devhost.err
		atf_fail "devhost did not serve mnt within 20 s"
	fi
	if ! [ -e mnt/.files ]; then
		wait "$(cat devhost.pid)"
		rc=$?
		cat devhost.err >&2
		[ $rc -eq 77 ] && atf_skip "FUSE cannot be mounted: $(tail -n 1 devhost.err)"
		atf_fail "devhost exited $rc before serving"
	fi
}

# stop_devhost: SIGTERM, wait, and check it shut down clean.
stop_devhost()
{
	pid=$(cat devhost.pid)
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	rm -f devhost.pid
	cat devhost.err
	[ $rc -eq 0 ] || atf_fail "devhost exited $rc"
	grep -q -- '-- clean$' devhost.err || atf_fail "devhost shutdown not clean"
	! grep -q " $(pwd)/mnt " /proc/mounts || atf_fail "mnt still mounted"
}

# client NAME ARGS...: a background kqemu-run on mnt/kqemu, output in NAME.out
client()
{
	_name=$1
	shift
	"$BIN/kqemu-run" --dev mnt/kqemu "$@" >"$_name.out" 2>&1 &
	echo $! >"$_name.pid"
	echo $! >>clients.pids
}

# Fail with devhost's log and the clients' outputs on stderr.
dh_fail()
{
	for _f in devhost.err *.out; do
		[ -f "$_f" ] && { echo "---- $_f"; cat "$_f"; } >&2
	done
	atf_fail "$*"
}

# all_ok N...: clients cN all printed "result ok".
all_ok()
{
	for _i in "$@"; do
		grep -q "result ok" "c$_i.out" 2>/dev/null || return 1
	done
	return 0
}

# instances_match N...: client cN's clone (from /.files) shows, in
# hw.kqemu.list, execs = 100 + 10 N and the ioctl count devhost saw.
instances_match()
{
	for _i in "$@"; do
		_p=$(cat "c$_i.pid")
		_clone=$(awk -v p="$_p" '$1 == p {print $5}' mnt/.files)
		_ioc=$(awk -v p="$_p" '$1 == p {print $6}' mnt/.files)
		[ -n "$_clone" ] || return 1
		grep -q "^$_clone .* ioctls=$_ioc execs=$((100 + 10 * _i)) " \
		    mnt/.sysctl/hw.kqemu.list 2>/dev/null || return 1
	done
	return 0
}

nfiles()
{
	_n=$(grep -vc '^#' mnt/.files 2>/dev/null)
	echo "${_n:--1}"
}
clone_nodes() { ls mnt | grep -c '^kqemu[0-9]'; }
# The shim's live count, or the devfs view when the sysctl is absent.
live()
{
	if [ -e mnt/.sysctl/debug.kqemu_clone.live ]; then
		cat mnt/.sysctl/debug.kqemu_clone.live
	else
		clone_nodes
	fi
}

cleanup_all()
{
	for p in $(cat clients.pids 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	if [ -f devhost.pid ]; then
		pid=$(cat devhost.pid)
		kill -TERM "$pid" 2>/dev/null
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		kill -9 "$pid" 2>/dev/null
	fi
	if grep -q " $(pwd)/mnt " /proc/mounts; then
		fusermount3 -u mnt 2>/dev/null || umount -l mnt 2>/dev/null
	fi
	return 0
}

common_head()
{
	atf_set "require.user" "root"
	atf_set "timeout" "60"
}

atf_test_case clients__concurrent_isolated cleanup
clients__concurrent_isolated_head()
{
	atf_set "descr" "8 real processes each open /dev/kqemu through the" \
	    "shim and run QEMU 0.10's sequence at once: 8 distinct clones," \
	    "each client's RAM size and CPU state its own; all reclaimed"
	common_head
}
clients__concurrent_isolated_body()
{
	start_devhost $DH_ARGS_CLONE
	for i in 1 2 3 4 5 6 7 8; do
		client c$i --ram $((i + 1)) --execs $((100 + 10 * i)) --wait-file go
	done
	wait_for '[ "$(nfiles)" -eq 8 ]' || dh_fail "8 opens not seen: $(cat mnt/.files)"
	# kqemu's own per-instance view: each client's clone ran exactly that
	# client's EXECs, and every ioctl devhost passed on that file.
	wait_for 'instances_match 1 2 3 4 5 6 7 8' ||
	    dh_fail "instances: $(cat mnt/.sysctl/hw.kqemu.list) files: $(cat mnt/.files)"
	cat mnt/.files mnt/.sysctl/hw.kqemu.list
	[ "$(grep -v '^#' mnt/.files | awk '{print $5}' | sort -u | wc -l)" -eq 8 ] ||
	    dh_fail "clones not distinct"
	[ "$(live)" -eq 8 ] || dh_fail "live clones $(live), expected 8"
	touch go
	for i in 1 2 3 4 5 6 7 8; do
		wait "$(cat c$i.pid)" || { cat c$i.out; dh_fail "client $i failed"; }
		cat c$i.out
		grep -q "ram $((i + 1))M .*result ok" c$i.out || dh_fail "client $i: $(cat c$i.out)"
	done
	wait_for '[ "$(nfiles)" -eq 0 ] && [ "$(live)" -eq 0 ]' ||
	    dh_fail "not reclaimed: $(cat mnt/.files) live $(live)"
	stop_devhost
}
clients__concurrent_isolated_cleanup() { cleanup_all; }

atf_test_case fork__child_close_not_last cleanup
fork__child_close_not_last_head()
{
	atf_set "descr" "After INIT a forked child (one exec'd, one not)" \
	    "closes its inherited copy: not the last close, the parent's EXECs" \
	    "keep working on the same instance; one release when it exits"
	common_head
}
fork__child_close_not_last_body()
{
	start_devhost $DH_ARGS_CLONE
	setup_bin
	"$BIN/kqemu-run" --dev mnt/kqemu --fork-child --execs 50 >c.out 2>&1 ||
	    { cat c.out; dh_fail "client failed"; }
	cat c.out
	grep -q 'result ok' c.out || dh_fail "$(cat c.out)"
	wait_for '[ "$(nfiles)" -eq 0 ] && [ "$(live)" -eq 0 ]' || dh_fail "not reclaimed"
	[ "$(grep -c '^devhost: release kqemu' devhost.err)" -eq 1 ] ||
	    dh_fail "expected exactly one release"
	stop_devhost
}
fork__child_close_not_last_cleanup() { cleanup_all; }

atf_test_case kill__sigkill_reclaims_own_clone cleanup
kill__sigkill_reclaims_own_clone_head()
{
	atf_set "descr" "SIGKILL of one of three clients holding clones" \
	    "reclaims exactly its clone; the other two keep theirs"
	common_head
}
kill__sigkill_reclaims_own_clone_body()
{
	start_devhost $DH_ARGS_CLONE
	for i in 1 2 3; do
		client c$i --ram $((i + 1)) --sleep
	done
	wait_for 'grep -q "result ok" c1.out && grep -q "result ok" c2.out &&
	    grep -q "result ok" c3.out' || dh_fail "clients did not run"
	grep -v '^#' mnt/.files | sort >before
	[ "$(wc -l <before)" -eq 3 ] || dh_fail "3 files expected: $(cat before)"
	victim=$(cat c2.pid)
	vclone=$(awk -v p="$victim" '$1 == p {print $5}' before)
	echo "killing $victim (clone $vclone)"
	kill -9 "$victim"
	wait_for "! grep -q '^$victim ' mnt/.files && [ \"\$(live)\" -eq 2 ]" ||
	    dh_fail "victim not reclaimed: $(cat mnt/.files) live $(live)"
	grep -v '^#' mnt/.files | sort >after
	grep -v "^$victim " before | awk '{print $1, $2, $3, $4, $5}' >expect
	awk '{print $1, $2, $3, $4, $5}' after >got
	cat expect got
	cmp -s expect got || dh_fail "the survivors' files changed"
	if [ "$vclone" != "-" ]; then
		wait_for "! [ -e mnt/$vclone ]" || dh_fail "node $vclone still there"
	fi
	for i in 1 3; do
		[ -e "mnt/$(awk -v p="$(cat c$i.pid)" '$1 == p {print $5}' after)" ] ||
		    dh_fail "survivor $i lost its node"
	done
	stop_devhost
}
kill__sigkill_reclaims_own_clone_cleanup() { cleanup_all; }

atf_test_case init__bad_pointer_efault cleanup
init__bad_pointer_efault_head()
{
	atf_set "descr" "INIT whose page array is not mapped in the client" \
	    "gets EFAULT (copyin reaches the real process's memory)"
	common_head
}
init__bad_pointer_efault_body()
{
	start_devhost $DH_ARGS_CLONE
	"$BIN/kqemu-run" --dev mnt/kqemu --bad-init --expect EFAULT >c.out 2>&1 ||
	    { cat c.out; dh_fail "expected EFAULT"; }
	cat c.out
	grep -q 'result EFAULT (INIT)' c.out || dh_fail "$(cat c.out)"
	# The same client with good pointers works on a fresh clone.
	"$BIN/kqemu-run" --dev mnt/kqemu --execs 5 >d.out 2>&1 ||
	    { cat d.out; dh_fail "good client failed"; }
	wait_for '[ "$(nfiles)" -eq 0 ]' || dh_fail "not reclaimed"
	stop_devhost
}
init__bad_pointer_efault_cleanup() { cleanup_all; }

atf_test_case exec__sigalrm_intr cleanup
exec__sigalrm_intr_head()
{
	atf_set "descr" "A SIGALRM arriving while EXEC is in the driver" \
	    "(FUSE interrupt) is a pending signal there: EXEC returns INTR" \
	    "with the state copied back"
	common_head
}
exec__sigalrm_intr_body()
{
	# --hold keeps each EXEC in the server until the caller is
	# interrupted (at most 5 s), like a monitor running a guest.
	start_devhost $DH_ARGS_CLONE --hold 0xc2487101=5000
	"$BIN/kqemu-run" --dev mnt/kqemu --alarm-us 20000 --execs 20 >c.out 2>&1 ||
	    { cat c.out; dh_fail "client failed"; }
	cat c.out
	grep -q 'result ok intr [1-9]' c.out || dh_fail "no INTR: $(cat c.out)"
	grep -q 'interrupt: thread .* posted signal 14' devhost.err ||
	    dh_fail "SIGALRM not posted"
	stop_devhost
}
exec__sigalrm_intr_cleanup() { cleanup_all; }

atf_test_case shutdown__clients_open cleanup
shutdown__clients_open_head()
{
	atf_set "descr" "SIGTERM to devhost while three clients hold clones:" \
	    "every host process exits, nothing leaks, the mount goes away"
	common_head
}
shutdown__clients_open_body()
{
	start_devhost $DH_ARGS_CLONE
	for i in 1 2 3; do
		client c$i --sleep
	done
	wait_for '[ "$(nfiles)" -eq 3 ] && grep -q "result ok" c1.out &&
	    grep -q "result ok" c2.out && grep -q "result ok" c3.out' ||
	    dh_fail "clients did not run"
	stop_devhost
	grep -q 'shutdown: 3 processes exited' devhost.err ||
	    dh_fail "expected 3 host processes to exit"
	# The clients' device is gone, they are not stuck.
	for i in 1 2 3; do
		kill -0 "$(cat c$i.pid)" || dh_fail "client $i died early"
	done
}
shutdown__clients_open_cleanup() { cleanup_all; }

atf_test_case baseline__kqemu_alone_ebusy cleanup
baseline__kqemu_alone_ebusy_head()
{
	atf_set "descr" "kqemu without the shim is single-instance: a second" \
	    "qemu-like process gets EBUSY while the first holds it"
	common_head
}
baseline__kqemu_alone_ebusy_body()
{
	start_devhost --load kqemu -t hw.kqemu.engine=conform
	client c1 --sleep
	wait_for 'grep -q "result ok" c1.out' || dh_fail "first client: $(cat c1.out)"
	"$BIN/kqemu-run" --dev mnt/kqemu --expect EBUSY >c2.out 2>&1 ||
	    { cat c2.out; dh_fail "second client did not get EBUSY"; }
	cat c1.out c2.out
	grep -q 'result EBUSY (open)' c2.out || dh_fail "$(cat c2.out)"
	kill -9 "$(cat c1.pid)"
	wait_for '[ "$(nfiles)" -eq 0 ]' || dh_fail "first not reclaimed"
	"$BIN/kqemu-run" --dev mnt/kqemu --execs 5 >c3.out 2>&1 ||
	    { cat c3.out; dh_fail "device not free again"; }
	stop_devhost
}
baseline__kqemu_alone_ebusy_cleanup() { cleanup_all; }

atf_test_case open__readonly_eperm cleanup
open__readonly_eperm_head()
{
	atf_set "descr" "A read-only open reaches kqemu's d_open: EPERM"
	common_head
}
open__readonly_eperm_body()
{
	start_devhost $DH_ARGS_CLONE
	if sh -c 'exec 4<mnt/kqemu' 2>err; then
		dh_fail "read-only open succeeded"
	fi
	cat err
	grep -qi 'not permitted' err || dh_fail "expected EPERM: $(cat err)"
	wait_for '[ "$(nfiles)" -eq 0 ] && [ "$(live)" -eq 0 ]' || dh_fail "leftover"
	stop_devhost
}
open__readonly_eperm_cleanup() { cleanup_all; }

atf_test_case run__dev_kqemu_namespace cleanup
run__dev_kqemu_namespace_head()
{
	atf_set "descr" "devhost run: the command sees the node at /dev/kqemu" \
	    "in a private mount namespace; devhost exits with its status and" \
	    "leaves the host's /dev as it was"
	common_head
}
run__dev_kqemu_namespace_body()
{
	setup_bin
	need_module kqemu_clone
	had=no
	[ -e /dev/kqemu ] && had=yes
	"$BIN/devhost" run $DH_ARGS_CLONE -- "$BIN/kqemu-run" --execs 10 >out 2>err
	rc=$?
	cat out err
	[ $rc -eq 77 ] && atf_skip "FUSE cannot be mounted: $(tail -n 1 err)"
	[ $rc -eq 0 ] || dh_fail "devhost run exited $rc"
	grep -q 'result ok' out || dh_fail "client: $(cat out)"
	grep -q -- '-- clean$' err || dh_fail "not clean"
	"$BIN/devhost" run $DH_ARGS_CLONE -- sh -c 'test -e /dev/null && exit 7' \
	    >out2 2>err2
	rc=$?
	[ $rc -eq 7 ] || { cat err2; dh_fail "exit status $rc, expected 7"; }
	# SIGTERM goes to the command; devhost exits with its status, clean.
	"$BIN/devhost" run $DH_ARGS_CLONE -- sleep 60 >out3 2>err3 &
	echo $! >devhost.pid
	wait_for 'grep -q "running the command" err3' ||
	    dh_fail "devhost run did not start: $(cat err3)"
	kill -TERM "$(cat devhost.pid)"
	wait "$(cat devhost.pid)"
	rc=$?
	rm -f devhost.pid
	cat err3
	[ $rc -eq 143 ] || dh_fail "exit status $rc after SIGTERM, expected 143"
	grep -q -- '-- clean$' err3 || dh_fail "not clean after SIGTERM"
	! grep -qE ' /dev/(\.devhost|kqemu) ' /proc/mounts ||
	    dh_fail "a devhost mount leaked into the host namespace"
	now=no
	[ -e /dev/kqemu ] && now=yes
	[ $had = $now ] || dh_fail "host /dev/kqemu changed"
}
run__dev_kqemu_namespace_cleanup()
{
	# devhost run's own namespace dies with it; just stop it.
	[ -f devhost.pid ] && kill -9 "$(cat devhost.pid)" 2>/dev/null
	return 0
}

# modes_case ARGS...: the shim in another mode (or kernel profile) through
# devhost: 4 concurrent clients hold instances, SIGKILL of one reclaims
# exactly its instance, a fork+exec'd child's close is not the last close,
# exit without close reclaims the rest, and the shutdown is clean.
modes_case()
{
	want_mode=$1
	shift
	start_devhost --load kqemu_clone -t hw.kqemu.engine=conform "$@"
	[ "$(cat mnt/.sysctl/debug.kqemu_clone.mode)" = "$want_mode" ] ||
	    dh_fail "mode $(cat mnt/.sysctl/debug.kqemu_clone.mode), expected $want_mode"
	for i in 1 2 3 4; do
		client c$i --ram $((i + 1)) --sleep
	done
	wait_for 'all_ok 1 2 3 4' ||
	    dh_fail "clients did not run"
	[ "$(live)" -eq 4 ] || dh_fail "live $(live), expected 4"
	victim=$(cat c3.pid)
	kill -9 "$victim"
	wait_for "! grep -q '^$victim ' mnt/.files && [ \"\$(live)\" -eq 3 ]" ||
	    dh_fail "victim not reclaimed: $(cat mnt/.files) live $(live)"
	"$BIN/kqemu-run" --dev mnt/kqemu --fork-child --execs 30 >f.out 2>&1 ||
	    dh_fail "fork client failed"
	wait_for '[ "$(live)" -eq 3 ]' || dh_fail "fork client not reclaimed"
	for i in 1 2 4; do
		kill -0 "$(cat c$i.pid)" || dh_fail "client $i died"
		kill -9 "$(cat c$i.pid)"
	done
	wait_for '[ "$(nfiles)" -eq 0 ] && [ "$(live)" -eq 0 ]' ||
	    dh_fail "not reclaimed: $(cat mnt/.files) live $(live)"
	[ "$(cat mnt/.sysctl/debug.kqemu_clone.opens)" -eq 5 ] ||
	    dh_fail "opens $(cat mnt/.sysctl/debug.kqemu_clone.opens), expected 5"
	stop_devhost
}

atf_test_case modes__fp cleanup
modes__fp_head()
{
	atf_set "descr" "fp mode (forced by tunable): concurrent, SIGKILL," \
	    "fork-child close and exit reclaim through devhost"
	common_head
}
modes__fp_body() { modes_case fp -t hw.kqemu_clone.mode=fp; }
modes__fp_cleanup() { cleanup_all; }

atf_test_case modes__native cleanup
modes__native_head()
{
	atf_set "descr" "native mode (cdevpriv, forced by tunable): concurrent," \
	    "SIGKILL, fork-child close and exit reclaim through devhost"
	common_head
}
modes__native_body() { modes_case native -t hw.kqemu_clone.mode=native; }
modes__native_cleanup() { cleanup_all; }

atf_test_case modes__proc_legacy cleanup
modes__proc_legacy_head()
{
	atf_set "descr" "proc mode on the legacy profile (no fp: at_exit hook," \
	    "run by devhost when the real process dies): concurrent, SIGKILL," \
	    "fork-child close and exit reclaim"
	common_head
}
modes__proc_legacy_body() { modes_case proc --profile legacy; }
modes__proc_legacy_cleanup() { cleanup_all; }

atf_test_case modes__autoclone_devfs24 cleanup
modes__autoclone_devfs24_head()
{
	atf_set "descr" "autoclone on the devfs24 profile (clone handlers, no" \
	    "a_fp): concurrent, SIGKILL, fork-child close and exit reclaim"
	common_head
}
modes__autoclone_devfs24_body() { modes_case autoclone --profile devfs24; }
modes__autoclone_devfs24_cleanup() { cleanup_all; }

atf_test_case ioctl__untranslatable_enotty cleanup
ioctl__untranslatable_enotty_head()
{
	atf_set "descr" "An ioctl whose size the BSD command word cannot hold" \
	    "(9000 > IOCPARM_MAX) gets ENOTTY from devhost; an expressible" \
	    "one kqemu does not know gets the driver's ENOTTY"
	common_head
}
ioctl__untranslatable_enotty_body()
{
	start_devhost $DH_ARGS_CLONE
	# Linux _IOR('q', 9, char[9000]) and _IOR('q', 9, int).
	for cmd in 0xa3287109 0x80047109; do
		"$BIN/kqemu-run" --dev mnt/kqemu --ioctl $cmd --expect ENOTTY \
		    >c.out 2>&1 || dh_fail "ioctl $cmd: $(cat c.out)"
		cat c.out
	done
	grep -c 'result ENOTTY (ioctl)' c.out >/dev/null || dh_fail "$(cat c.out)"
	wait_for '[ "$(nfiles)" -eq 0 ]' || dh_fail "not reclaimed"
	stop_devhost
}
ioctl__untranslatable_enotty_cleanup() { cleanup_all; }

atf_test_case perms__node_mode_and_owner cleanup
perms__node_mode_and_owner_head()
{
	atf_set "descr" "The file's mode and group are the cdev's (kqemu's" \
	    "hw.kqemu.perms/gid tunables); an unprivileged process is refused" \
	    "by 0660 root:wheel and served when the mode allows it"
	common_head
}
perms__node_mode_and_owner_body()
{
	start_devhost $DH_ARGS_CLONE
	[ "$(stat -c %a:%u:%g mnt/kqemu)" = 660:0:0 ] ||
	    dh_fail "default node is $(stat -c %a:%u:%g mnt/kqemu)"
	if setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$BIN/kqemu-run" --dev mnt/kqemu --execs 3 >u.out 2>&1; then
		dh_fail "nobody opened a 0660 root:wheel node"
	fi
	grep -q 'result EACCES (open)' u.out || dh_fail "expected EACCES: $(cat u.out)"
	stop_devhost
	start_devhost $DH_ARGS_CLONE -t hw.kqemu.perms=0666 -t hw.kqemu.gid=5
	[ "$(stat -c %a:%g mnt/kqemu)" = 666:5 ] ||
	    dh_fail "tuned node is $(stat -c %a:%g mnt/kqemu)"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$BIN/kqemu-run" --dev mnt/kqemu --execs 20 >u2.out 2>&1 ||
	    dh_fail "nobody on a 0666 node: $(cat u2.out)"
	cat u2.out
	stop_devhost
}
perms__node_mode_and_owner_cleanup() { cleanup_all; }

atf_test_case rw__read_write_reach_driver cleanup
rw__read_write_reach_driver_head()
{
	atf_set "descr" "read(2) and write(2) on a node reach the driver's" \
	    "d_read/d_write through uiomove (semcount test KLD: reads return" \
	    "its message, writes of any size are consumed)"
	common_head
}
rw__read_write_reach_driver_body()
{
	start_devhost --load semcount
	[ "$(cat mnt/semcount)" = semcount ] || dh_fail "read: $(cat mnt/semcount)"
	dd if=/dev/zero of=mnt/semcount bs=65536 count=4 2>dd.err ||
	    dh_fail "write: $(cat dd.err)"
	grep -q '^262144 bytes' dd.err || dh_fail "short write: $(cat dd.err)"
	wait_for '[ "$(nfiles)" -eq 0 ]' || dh_fail "not released"
	stop_devhost
}
rw__read_write_reach_driver_cleanup() { cleanup_all; }

atf_test_case fork__orphan_child_keeps_instance cleanup
fork__orphan_child_keeps_instance_head()
{
	atf_set "descr" "The opener exits while a forked child still holds" \
	    "the file: the host kernel's exit runs for the parent, the child" \
	    "keeps using the same instance, and its exit is the last close"
	common_head
}
fork__orphan_child_keeps_instance_body()
{
	start_devhost $DH_ARGS_CLONE
	"$BIN/kqemu-run" --dev mnt/kqemu --orphan-child --execs 200 >c.out 2>&1 ||
	    dh_fail "parent failed"
	wait_for 'grep -q "result ok (orphan child)" c.out' ||
	    dh_fail "orphan child did not finish"
	cat c.out
	[ "$(grep -c 'result ok' c.out)" -eq 2 ] || dh_fail "expected two ok lines"
	[ "$(awk '{print $6}' c.out | sort -u | wc -l)" -eq 1 ] ||
	    dh_fail "parent and child saw different clones"
	wait_for '[ "$(nfiles)" -eq 0 ] && [ "$(live)" -eq 0 ]' ||
	    dh_fail "not reclaimed: $(cat mnt/.files) live $(live)"
	[ "$(grep -c '^devhost: release kqemu' devhost.err)" -eq 1 ] ||
	    dh_fail "expected exactly one release"
	# The parent's exit ran while the child still held the file.
	grep -q "process $(awk 'NR == 1 {print $2}' c.out) died (1 files still open)" \
	    devhost.err || dh_fail "parent's exit not run with its file held"
	stop_devhost
}
fork__orphan_child_keeps_instance_cleanup() { cleanup_all; }

atf_test_case threads__tid_maps_to_process cleanup
threads__tid_maps_to_process_head()
{
	atf_set "descr" "A client whose second thread opens and uses the" \
	    "device: FUSE reports the thread id, devhost keys the host process" \
	    "by the real process (Tgid)"
	common_head
}
threads__tid_maps_to_process_body()
{
	start_devhost $DH_ARGS_CLONE
	client c1 --thread --wait-file go --execs 20
	wait_for '[ "$(nfiles)" -eq 1 ]' || dh_fail "no open seen"
	pid=$(cat c1.pid)
	grep -q "^$pid " mnt/.files || dh_fail "file not keyed by pid $pid: $(cat mnt/.files)"
	grep -q "open kqemu by $pid (tid [0-9]*)" devhost.err || dh_fail "no open by $pid"
	grep "open kqemu by $pid (tid $pid)" devhost.err &&
	    dh_fail "the opening thread was the main thread"
	touch go
	wait "$pid" || dh_fail "client failed"
	grep -q 'result ok' c1.out || dh_fail "$(cat c1.out)"
	stop_devhost
}
threads__tid_maps_to_process_cleanup() { cleanup_all; }

atf_test_case fork__child_uses_inherited_file cleanup
fork__child_uses_inherited_file_head()
{
	atf_set "descr" "A forked child that uses the inherited file gets a" \
	    "host process of its own (forked from the opener's at first use):" \
	    "it shares the instance in autoclone mode and gets ENXIO in proc" \
	    "mode, as on DragonFly; the parent carries on either way"
	common_head
}
fork__child_uses_inherited_file_body()
{
	start_devhost $DH_ARGS_CLONE
	"$BIN/kqemu-run" --dev mnt/kqemu --child-exec --execs 20 >a.out 2>&1 ||
	    dh_fail "autoclone client failed"
	grep -q 'result ok child-exec ok' a.out || dh_fail "autoclone: $(cat a.out)"
	grep -q 'uses files of' devhost.err || dh_fail "no host process for the child"
	wait_for '[ "$(nfiles)" -eq 0 ] && [ "$(live)" -eq 0 ]' || dh_fail "not reclaimed"
	stop_devhost
	start_devhost $DH_ARGS_CLONE --profile legacy
	[ "$(cat mnt/.sysctl/debug.kqemu_clone.mode)" = proc ] || dh_fail "not proc mode"
	"$BIN/kqemu-run" --dev mnt/kqemu --child-exec --execs 20 >p.out 2>&1 ||
	    dh_fail "proc client failed"
	grep -q 'result ok child-exec ENXIO' p.out || dh_fail "proc: $(cat p.out)"
	wait_for '[ "$(nfiles)" -eq 0 ] && [ "$(live)" -eq 0 ]' || dh_fail "not reclaimed"
	stop_devhost
}
fork__child_uses_inherited_file_cleanup() { cleanup_all; }

atf_init_test_cases()
{
	atf_add_test_case clients__concurrent_isolated
	atf_add_test_case fork__child_close_not_last
	atf_add_test_case fork__orphan_child_keeps_instance
	atf_add_test_case fork__child_uses_inherited_file
	atf_add_test_case kill__sigkill_reclaims_own_clone
	atf_add_test_case init__bad_pointer_efault
	atf_add_test_case exec__sigalrm_intr
	atf_add_test_case shutdown__clients_open
	atf_add_test_case baseline__kqemu_alone_ebusy
	atf_add_test_case open__readonly_eperm
	atf_add_test_case run__dev_kqemu_namespace
	atf_add_test_case modes__fp
	atf_add_test_case modes__native
	atf_add_test_case modes__proc_legacy
	atf_add_test_case modes__autoclone_devfs24
	atf_add_test_case ioctl__untranslatable_enotty
	atf_add_test_case perms__node_mode_and_owner
	atf_add_test_case rw__read_write_reach_driver
	atf_add_test_case threads__tid_maps_to_process
}
