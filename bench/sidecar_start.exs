# Sidecar start: time from Port.open to the sidecar's hello, measured in the VM.
#
#   cd mix_plugin && mix run ../bench/sidecar_start.exs [RUNS]
#
# (RUNS defaults to 20, or BENCH_RUNS.) Three figures per start, side by side:
#   plugin    NervesDockerTs.Sidecar.start_link/1 (finds node and the sidecar,
#             opens the port, waits for and checks the hello), then stop/1
#   port      a bare Port.open of `node priv/sidecar.mjs` ({:packet, 4}) to its
#             first frame (the hello): the sidecar's own start, no plugin code
#   node      a bare Port.open of `node -e 0` to its exit: Node's start, the floor
# Target: plugin median < 300 ms.
# The last line is machine-readable (BENCH_JSON ...) for bench/sidecar-start.mjs.

defmodule Bench.SidecarStart do
  def runs do
    case System.argv() do
      [n | _] -> String.to_integer(n)
      [] -> String.to_integer(System.get_env("BENCH_RUNS") || "20")
    end
  end

  def ms(native), do: System.convert_time_unit(native, :native, :microsecond) / 1000

  def plugin_once do
    t0 = System.monotonic_time()
    {:ok, pid} = NervesDockerTs.Sidecar.start_link()
    t1 = System.monotonic_time()
    hello = NervesDockerTs.Sidecar.hello(pid)
    NervesDockerTs.Sidecar.stop(pid)
    wait_gone(hello["pid"])
    ms(t1 - t0)
  end

  def port_once(node, entry) do
    t0 = System.monotonic_time()
    port = Port.open({:spawn_executable, node}, [:binary, {:packet, 4}, :exit_status, args: [entry]])

    t1 =
      receive do
        {^port, {:data, _hello}} -> System.monotonic_time()
      after
        15_000 -> raise "no hello from #{entry} within 15 s"
      end

    {:os_pid, os_pid} = Port.info(port, :os_pid)
    Port.close(port)
    wait_gone(os_pid)
    ms(t1 - t0)
  end

  def node_once(node) do
    t0 = System.monotonic_time()
    port = Port.open({:spawn_executable, node}, [:binary, :exit_status, args: ["-e", "0"]])

    receive do
      {^port, {:exit_status, 0}} -> ms(System.monotonic_time() - t0)
    after
      15_000 -> raise "node -e 0 did not exit within 15 s"
    end
  end

  # A start must not overlap the previous sidecar's exit (2 cores).
  def wait_gone(os_pid, tries \\ 500) do
    if tries > 0 and File.exists?("/proc/#{os_pid}") do
      Process.sleep(2)
      wait_gone(os_pid, tries - 1)
    end
  end

  def stats(xs) do
    s = Enum.sort(xs)
    n = length(s)
    median = if rem(n, 2) == 1, do: Enum.at(s, div(n, 2)), else: (Enum.at(s, div(n, 2) - 1) + Enum.at(s, div(n, 2))) / 2
    %{median: median, min: hd(s), max: List.last(s), n: n}
  end

  def fmt(x), do: :erlang.float_to_binary(x * 1.0, decimals: 1)

  def main do
    n = runs()
    node = System.find_executable(System.get_env("NERVES_DOCKER_TS_NODE") || "node")
    {:ok, [entry | _]} = NervesDockerTs.Sidecar.Locate.entry([])
    File.exists?(entry) || raise "the sidecar is not built: #{entry} is missing (npm run build)"

    # One of each first, untimed: disk cache, code loading.
    plugin_once()
    port_once(node, entry)
    node_once(node)

    # Interleaved, so that any drift of the machine hits all three alike.
    {p, q, r} =
      Enum.reduce(1..n, {[], [], []}, fn _, {p, q, r} ->
        {[plugin_once() | p], [port_once(node, entry) | q], [node_once(node) | r]}
      end)

    rows = [
      {"plugin: Sidecar.start_link to hello", stats(p)},
      {"port:   Port.open sidecar.mjs to hello", stats(q)},
      {"node:   Port.open node -e 0 to exit (floor)", stats(r)}
    ]

    IO.puts("sidecar start, #{n} starts each (ms)            median    min    max")

    for {label, s} <- rows do
      IO.puts(String.pad_trailing(label, 46) <> String.pad_leading(fmt(s.median), 7) <> String.pad_leading(fmt(s.min), 7) <> String.pad_leading(fmt(s.max), 7))
    end

    plugin = stats(p)
    verdict = if plugin.median < 300, do: "met", else: "MISSED"
    IO.puts("target: plugin median < 300 ms: #{verdict} (#{fmt(plugin.median)} ms; sidecar's own start #{fmt(stats(q).median)} ms, Node's #{fmt(stats(r).median)} ms)")
    IO.puts("node: #{node} (#{String.trim(elem(System.cmd(node, ["--version"]), 0))}), sidecar: #{entry}")

    json =
      Enum.map_join(Enum.zip(["plugin", "port", "node"], rows), ",", fn {k, {_, s}} ->
        ~s("#{k}":{"median":#{s.median},"min":#{s.min},"max":#{s.max},"n":#{s.n}})
      end)

    IO.puts("BENCH_JSON {#{json}}")
  end
end

Bench.SidecarStart.main()
