# Runs the Mix task `mix nerves_docker_ts.build` inside this VM and times it
# (from the task's start to its return: the VM's own boot is not counted, as
# upstream's replay does not count it either). Used by bench/runner-overhead.mjs:
#
#   cd <workspace>/examples/system && mix run <ROOT>/bench/lib/mix_build.exs
#
# Prints BENCH_JSON {"seconds": S} last.
t0 = System.monotonic_time()
Mix.Task.rerun("nerves_docker_ts.build", [])
t1 = System.monotonic_time()
s = System.convert_time_unit(t1 - t0, :native, :microsecond) / 1_000_000
IO.puts(~s(BENCH_JSON {"seconds": #{s}}))
