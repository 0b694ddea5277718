#!/bin/busybox sh
# /init of the test VM. Runs the attack matrix (ct.test=matrix) or the overhead
# benchmark (ct.test=bench) as root and prints machine-readable lines on the
# serial console:
#   CT-RESULT row=R vector=V outcome=ok|denied|error ...   (one per attempt)
#   CT-AGENT {json}                                         (agent log lines)
#   CT-WRAPPER name=N {json}                                (wrapper log lines)
#   CT-CTL row=R reply=...                                  (raw agent replies)
#   CT-BENCH phase=baseline|attached workload=W ...
#   CT-DONE
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t securityfs securityfs /sys/kernel/security
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf
export PATH=/bin

arg() { sed -n "s/.*ct\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
TEST=$(arg test)
SOCK=/run/cloudtaser/ebpf.sock
echo "CT-BOOT kernel=$(uname -r) lsm=$(cat /sys/kernel/security/lsm) uptime=$(cut -d' ' -f1 /proc/uptime)"

finish() {
  echo "CT-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
  sync
  poweroff -f
  sleep 10
}

start_agent() {
  # $1: extra args. Agent lines are prefixed so the host can tell them apart.
  ( cloudtaser-ebpf-agent --socket $SOCK ${1:---mode enforce} 2>/tmp/agent.err | while read -r l; do echo "CT-AGENT $l"; done ) &
  for i in $(seq 1 300); do
    [ -S $SOCK ] && return 0
    sleep 0.1
  done
  echo "CT-RESULT row=agent vector=start outcome=error detail=no-socket"
  cat /tmp/agent.err
  finish
}

agent_pid() { pidof cloudtaser-ebpf-agent; }

stop_agent() {
  kill -TERM $(agent_pid) 2>/dev/null
  for i in $(seq 1 100); do
    [ -z "$(agent_pid)" ] && return 0
    sleep 0.1
  done
}

# start_victim NAME SECRET ARGS...: waits for its info file, sets V_PID, V_CHILD, V_ADDR
start_victim() {
  name=$1 secret=$2
  shift 2
  rm -f /tmp/$name.info
  CT_SECRET=$secret victim --info /tmp/$name.info "$@" &
  for i in $(seq 1 100); do
    [ -f /tmp/$name.info ] && break
    sleep 0.05
  done
  info=$(cat /tmp/$name.info 2>/dev/null)
  V_PID=$(echo "$info" | sed -n 's/.*pid=\([0-9]*\) .*/\1/p')
  V_CHILD=$(echo "$info" | sed -n 's/.*child=\([0-9]*\).*/\1/p')
  V_ADDR=$(echo "$info" | sed -n 's/.*addr=\(0x[0-9a-f]*\).*/\1/p')
  echo "CT-VICTIM name=$name $info"
}

# ---- the static wrapper (runtime/wrapper), as a protected container runs it ----
# ct.bao: OpenBao on the host, reached through QEMU's user network (CT_VM_NET=user);
# ct.token: a short-lived token that may only read secret/data/vm/canary;
# ct.canary: the value stored there, so the attacker can tell a read from a miss.
BAO=$(arg bao) BAO_TOKEN=$(arg token) CANARY=$(arg canary)

net_up() {
  insmod /lib/e1000.ko && ip link set lo up && ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
}

# start_wrapped NAME USER EBPF: the wrapper logs in with the token, reads the canary into
# CT_SECRET and starts victim (which forks) as its app, as USER. Sets W_PID, V_PID, V_CHILD, V_ADDR.
start_wrapped() {
  name=$1 user=$2 ebpf=$3
  rm -f /tmp/$name.info
  (
    export CLOUDTASER_ORIGINAL_CMD="[\"/bin/victim\",\"--info\",\"/tmp/$name.info\",\"--fork\"]" \
      CLOUDTASER_VAULT_ADDR=$BAO CLOUDTASER_VAULT_AUTH_METHOD=token CLOUDTASER_VAULT_TOKEN=$BAO_TOKEN \
      CLOUDTASER_SECRET_PATHS=secret/data/vm/canary CLOUDTASER_ENV_MAP=value=CT_SECRET \
      CLOUDTASER_EBPF=$ebpf CLOUDTASER_EBPF_SOCKET=$SOCK CLOUDTASER_START_DEADLINE=20s
    # su -p keeps the environment and execs: the wrapper keeps this subshell's pid.
    if [ "$user" = root ]; then exec cloudtaser-wrapper; else exec su -p "$user" -c 'exec /bin/cloudtaser-wrapper'; fi
  ) 2>/tmp/$name.err &
  W_PID=$!
  for i in $(seq 1 600); do
    [ -f /tmp/$name.info ] && break
    kill -0 $W_PID 2>/dev/null || break
    sleep 0.1
  done
  info=$(cat /tmp/$name.info 2>/dev/null)
  V_PID=$(echo "$info" | sed -n 's/.*pid=\([0-9]*\) .*/\1/p')
  V_CHILD=$(echo "$info" | sed -n 's/.*child=\([0-9]*\).*/\1/p')
  V_ADDR=$(echo "$info" | sed -n 's/.*addr=\(0x[0-9a-f]*\).*/\1/p')
  sed "s/^/CT-WRAPPER name=$name /" /tmp/$name.err
  [ -n "$info" ] || echo "CT-RESULT row=$name vector=start outcome=error detail=no-app"
  echo "CT-VICTIM name=$name wrapper=$W_PID $info"
}

# wrapper_refuses ROW: a fail-closed wrapper must not start its app (exit 5); it stops before
# OpenBao, so the address needs no network. outcome=ok would mean the app ran.
wrapper_refuses() {
  rm -f /tmp/$1.info
  CT_SECRET=not-from-openbao CLOUDTASER_ORIGINAL_CMD="[\"/bin/victim\",\"--info\",\"/tmp/$1.info\"]" \
    CLOUDTASER_VAULT_ADDR=http://127.0.0.1:1 CLOUDTASER_VAULT_AUTH_METHOD=token CLOUDTASER_VAULT_TOKEN=none \
    CLOUDTASER_SECRET_PATHS=secret/data/vm/canary CLOUDTASER_EBPF=true CLOUDTASER_EBPF_SOCKET=$SOCK \
    CLOUDTASER_START_DEADLINE=1s cloudtaser-wrapper 2>/tmp/$1.err
  rc=$?
  sed "s/^/CT-WRAPPER name=$1 /" /tmp/$1.err
  if [ -f /tmp/$1.info ]; then outcome=ok; elif [ $rc = 5 ]; then outcome=denied; else outcome=error; fi
  echo "CT-RESULT row=$1 vector=start outcome=$outcome errno=0 detail=exit-$rc"
}

run_wrapper_rows() {
  if [ -z "$BAO" ] || ! net_up; then
    echo "CT-RESULT row=wrapper vector=net outcome=error detail=no-ct.bao-or-no-nic"
    return
  fi
  # Control first: without registration the root attacker reads the delivered canary.
  start_wrapped wrapper_unprotected root false
  matrix wrapper_unprotected $V_PID $V_ADDR $CANARY
  start_wrapped wrapper root true
  matrix wrapper $V_PID $V_ADDR $CANARY
  matrix wrapper_child $V_CHILD $V_ADDR $CANARY
  attack wrapper_self ptrace $W_PID 0 $CANARY
  start_wrapped wrapper_nonroot app true
  matrix wrapper_nonroot $V_PID $V_ADDR $CANARY
  matrix wrapper_nonroot_child $V_CHILD $V_ADDR $CANARY
}

# What a non-root caller of the world-connectable socket cannot do. $1 $2: an
# unregistered process and its secret's address.
run_socket_rows() {
  su app -c "attack nonroot_other ctl $SOCK 'REGISTER $1'"
  su app -c "attack nonroot_status ctl $SOCK STATUS"
  attack nonroot_other_target vm_readv $1 $2 ct-secret-unprotected-51c2
  # A connection kept open by a child after the connecting process exited and
  # its pid went to a new process: registering must not mark the newcomer.
  rm -f /tmp/handoff /tmp/handoff.go /tmp/handoff.done
  attack stale_peer ctl_handoff $SOCK /tmp/handoff &
  A_PID=$!
  wait $A_PID
  for i in $(seq 1 100); do [ -f /tmp/handoff ] && break; sleep 0.05; done
  sleep 0.3 # the agent has accepted the connection before the newcomer exists
  start_victim stale ct-secret-stale-5e0f --want-pid $A_PID
  if [ "$V_PID" = "$A_PID" ]; then
    touch /tmp/handoff.go
    for i in $(seq 1 100); do [ -f /tmp/handoff.done ] && break; sleep 0.05; done
    attack stale_peer_target vm_readv $V_PID $V_ADDR ct-secret-stale-5e0f
  else
    echo "CT-RESULT row=stale_peer vector=same_pid outcome=error detail=wanted-$A_PID-got-$V_PID"
  fi
}

matrix() {
  # row TARGET_ROW PID ADDR SECRET: the five vectors against one process
  for v in environ mem vm_readv ptrace pidfd_getfd; do
    attack "$1" $v "$2" "$3" "$4"
  done
}

run_matrix() {
  start_victim unprot ct-secret-unprotected-51c2
  U_PID=$V_PID U_ADDR=$V_ADDR
  start_agent
  start_victim prot ct-secret-protected-9e41 --register $SOCK --fork
  P_PID=$V_PID P_CHILD=$V_CHILD P_ADDR=$V_ADDR
  sleep 0.3 # let both print their self-check lines

  matrix protected $P_PID $P_ADDR ct-secret-protected-9e41
  matrix protected_child $P_CHILD $P_ADDR ct-secret-protected-9e41
  run_socket_rows $U_PID $U_ADDR
  matrix unprotected $U_PID $U_ADDR ct-secret-unprotected-51c2
  run_wrapper_rows

  # PID reuse: a registered process exits, its number is handed to a new,
  # unregistered process, which must be readable.
  start_victim gone ct-secret-gone-0d77 --register $SOCK
  G_PID=$V_PID
  kill -TERM $G_PID
  wait $G_PID 2>/dev/null
  attack exit_index ctl $SOCK STATUS > /tmp/status.txt
  if grep -q "\"pid\":$G_PID," /tmp/status.txt; then
    echo "CT-RESULT row=exit_cleanup vector=index outcome=error detail=pid-$G_PID-still-indexed"
  else
    echo "CT-RESULT row=exit_cleanup vector=index outcome=ok detail=pid-$G_PID-removed"
  fi
  start_victim reuse ct-secret-reused-3b90 --want-pid $G_PID
  if [ "$V_PID" = "$G_PID" ]; then
    echo "CT-RESULT row=pid_reuse vector=same_pid outcome=ok detail=$V_PID"
    matrix reused_pid $V_PID $V_ADDR ct-secret-reused-3b90
  else
    echo "CT-RESULT row=pid_reuse vector=same_pid outcome=error detail=wanted-$G_PID-got-$V_PID"
  fi

  # Self-protection against another root process; the control must succeed.
  attack selfprot bpf_obj_get /sys/fs/bpf/cloudtaser/ctaser_tasks
  attack selfprot map_by_id
  attack selfprot pin_unlink /sys/fs/bpf/cloudtaser/link_ctaser_ptrace
  attack selfprot_control bpf_control

  # Agent restart: pinned links keep enforcing while it is down, and the new
  # instance reuses the pinned state.
  stop_agent
  attack agent_down environ $P_PID $P_ADDR ct-secret-protected-9e41
  attack agent_down vm_readv $P_PID $P_ADDR ct-secret-protected-9e41
  start_agent
  attack agent_restarted environ $P_PID $P_ADDR ct-secret-protected-9e41
  start_victim late ct-secret-late-77aa --register $SOCK
  attack agent_restarted_new vm_readv $V_PID $V_ADDR ct-secret-late-77aa
  # Sticky enforce: a second instance asking for detect must be refused.
  cloudtaser-ebpf-agent --mode detect --socket /run/other.sock > /tmp/sticky.txt 2>&1
  rc=$?
  if [ $rc = 3 ] && grep -q EBPF_MODE_STICKY /tmp/sticky.txt; then
    echo "CT-RESULT row=sticky_enforce vector=detect_downgrade outcome=denied errno=1 detail=exit-3"
  else
    echo "CT-RESULT row=sticky_enforce vector=detect_downgrade outcome=ok detail=exit-$rc"
  fi
  attack status ctl $SOCK STATUS
  sleep 0.5 # drain the agent's event log
}

bench_round() {
  for w in open procopen spawn cpu; do
    case $w in
      open|procopen) n=10000 ;;
      spawn) n=100 ;;
      cpu) n=20000000 ;;
    esac
    echo "CT-BENCH phase=$1 round=$2 $(bench $w $n | sed 's/^CT-BENCH //')"
  done
}

# Baseline and attached rounds alternate in one boot (an ephemeral agent's
# programs detach when it exits), so drift in the emulator hits both alike.
run_bench() {
  echo x > /etc/bench-file
  rounds=$(sed -n 's/.*ct\.rounds=\([0-9]*\).*/\1/p' /proc/cmdline)
  rounds=${rounds:-5}
  bench open 2000 >/dev/null # warm caches
  for r in $(seq 1 $rounds); do
    bench_round baseline $r
    start_agent "--mode enforce --ephemeral"
    # A protected process exists, so the maps are not empty while measuring.
    start_victim prot ct-secret-bench --register $SOCK --fork
    bench_round attached $r
    kill $V_CHILD $V_PID
    stop_agent
    wait 2>/dev/null
  done
  # The kernel's own accounting of each program's run time (bpf_stats costs
  # two clock reads per run, so it stays off during the timed rounds).
  sysctl -w kernel.bpf_stats_enabled=1 >/dev/null
  start_agent "--mode enforce --ephemeral"
  start_victim prot ct-secret-bench --register $SOCK --fork
  bench_round stats 1
  attack stats ctl $SOCK STATUS | sed 's/^CT-CTL row=stats reply=OK /CT-STATS /'
  sysctl -w kernel.bpf_stats_enabled=0 >/dev/null
}

# file_open left out: the ptrace_access_check hook alone must still stop all
# five vectors (environ and mem then fail inside mm_access).
run_layers() {
  start_agent "--mode enforce --skip-prog ctaser_fopen"
  start_victim prot ct-secret-layers-4c1d --register $SOCK --fork
  matrix ptrace_only $V_PID $V_ADDR ct-secret-layers-4c1d
  matrix ptrace_only_child $V_CHILD $V_ADDR ct-secret-layers-4c1d
  sleep 0.3
}

# Detect logs and allows; then the same registration is enforced once a new
# agent raises the mode (raising is allowed, lowering is not).
run_detect() {
  start_agent "--mode detect"
  wrapper_refuses wrapper_detect
  start_victim prot ct-secret-detect-a81e --register $SOCK --fork
  matrix detect $V_PID $V_ADDR ct-secret-detect-a81e
  sleep 0.3
  stop_agent
  start_agent "--mode enforce"
  matrix detect_then_enforce $V_PID $V_ADDR ct-secret-detect-a81e
  sleep 0.3
}

case "$TEST" in
  bench) run_bench ;;
  layers) run_layers ;;
  detect) run_detect ;;
  *) run_matrix ;;
esac
finish
