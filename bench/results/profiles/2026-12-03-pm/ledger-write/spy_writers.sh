#!/bin/bash
# Attach py-spy to the writer processes of the bench/ledger.py run $1 (its pid) once their
# request threads exist (the appends start right after): writer 1 with --gil (where the GIL
# goes), writer 2 without (where its CPU goes), 10 s each, of the bench's 10 s of appends.
parent=$1 out=$2
while true; do
  pids=$(for p in $(pgrep -P $parent); do grep -q spawn_main /proc/$p/cmdline 2>/dev/null && echo $p; done)
  ready=0
  for p in $pids; do [ $(ls /proc/$p/task 2>/dev/null | wc -l) -ge 33 ] && ready=$((ready+1)); done
  [ $ready -ge 2 ] && break
  sleep 0.2
done
set -- $pids
/work/main/.venv/bin/py-spy record --pid $1 --rate 250 --duration 10 --nonblocking --gil --format speedscope -o ${out}-writer1-gil.speedscope.json > ${out}-spy1.log 2>&1 &
/work/main/.venv/bin/py-spy record --pid $2 --rate 250 --duration 10 --nonblocking --format speedscope -o ${out}-writer2-cpu.speedscope.json > ${out}-spy2.log 2>&1 &
wait
