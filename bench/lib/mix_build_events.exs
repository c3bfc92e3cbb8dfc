# One build of the current project through the Mix plugin, as the build
# runner does it (NervesDockerTs.Spec.from_package, a fresh sidecar, the
# build request, the default output handler), while recording what reached
# the plugin: every headline event in order (to BENCH_HEADLINES, one per
# line), the count of each event type, and the sidecar's memory (VmRSS
# sampled every 50 ms, VmHWM read just before it is stopped).
#
#   cd <system> && BENCH_MAKE_ARGS="OUTPUT_MB=1024" BENCH_HEADLINES=/tmp/h.txt \
#     mix run <ROOT>/bench/lib/mix_build_events.exs
#
# BENCH_MAKE_ARGS: make arguments separated by spaces (replacing make_args).
# Prints BENCH_JSON {...} last. Used by bench/log-throughput.mjs.
defmodule Bench.Json do
  def encode(nil), do: "null"
  def encode(true), do: "true"
  def encode(false), do: "false"
  def encode(n) when is_integer(n), do: Integer.to_string(n)
  def encode(n) when is_float(n), do: Float.to_string(n)
  def encode(s) when is_binary(s), do: inspect(s, binaries: :as_strings, printable_limit: :infinity) |> fix_escapes()
  def encode(a) when is_atom(a), do: encode(Atom.to_string(a))
  def encode(l) when is_list(l), do: "[" <> Enum.map_join(l, ",", &encode/1) <> "]"
  def encode({:bin, b}), do: encode(Base.encode16(b))
  def encode(m) when is_map(m), do: "{" <> Enum.map_join(m, ",", fn {k, v} -> encode(to_string(k)) <> ":" <> encode(v) end) <> "}"

  # Elixir's inspect escapes \e as \e and #{ as \#{; JSON wants \u001b and #{.
  defp fix_escapes(s), do: s |> String.replace("\\e", "\\u001b") |> String.replace("\\\#{", "\#{")
end

defmodule Bench.Mem do
  def status(pid) do
    case File.read("/proc/#{pid}/status") do
      {:ok, text} ->
        kb = fn key ->
          case Regex.run(~r/^#{key}:\s+(\d+) kB/m, text) do
            [_, n] -> String.to_integer(n)
            _ -> nil
          end
        end

        %{rss: kb.("VmRSS"), hwm: kb.("VmHWM")}

      _ ->
        %{rss: nil, hwm: nil}
    end
  end

  def sampler(pid, parent) do
    spawn_link(fn -> loop(pid, parent, 0, 0) end)
  end

  defp loop(pid, parent, max, n) do
    receive do
      {:stop, from} -> send(from, {:rss_max, max, n})
    after
      50 ->
        rss = status(pid).rss || 0
        loop(pid, parent, max(max, rss), n + 1)
    end
  end
end

alias Mix.Tasks.NervesDockerTs.Project
alias NervesDockerTs.{Sidecar, Spec}

make_args = String.split(System.get_env("BENCH_MAKE_ARGS") || "", " ", trim: true)
headlines_path = System.get_env("BENCH_HEADLINES") || raise "BENCH_HEADLINES must name a file"

pkg = Project.package!()
opts = Keyword.put(Project.opts(pkg), :make_args, make_args)
spec = Spec.from_package(pkg, opts)

{:ok, fh} = File.open(headlines_path, [:write, :binary, {:delayed_write, 65_536, 200}])
t0 = System.monotonic_time()
{:ok, sc} = Sidecar.start_link()
hello = Sidecar.hello(sc)
os_pid = hello["pid"]
sampler = Bench.Mem.sampler(os_pid, self())

on_event = fn event, data ->
  Process.put({:count, event}, (Process.get({:count, event}) || 0) + 1)
  if event == "headline", do: IO.binwrite(fh, [data, "\n"])
  NervesDockerTs.Output.event(event, data)
end

reply = Sidecar.request(sc, "build", spec, on_event: on_event)
t1 = System.monotonic_time()
mem = Bench.Mem.status(os_pid)
send(sampler, {:stop, self()})
{rss_max, samples} = receive do: ({:rss_max, m, n} -> {m, n})
Sidecar.stop(sc)
File.close(fh)

result =
  case reply do
    {:ok, r} -> r
    {:error, err} -> raise err
  end

counts = for {{:count, e}, n} <- Process.get(), into: %{}, do: {e, n}

out = %{
  "seconds" => System.convert_time_unit(t1 - t0, :native, :microsecond) / 1_000_000,
  "result" => result,
  "events" => counts,
  "sidecar_pid" => os_pid,
  "vm_hwm_kb" => mem.hwm,
  "vm_rss_end_kb" => mem.rss,
  "rss_max_sampled_kb" => rss_max,
  "rss_samples" => samples,
  "download_name" => spec["download_name"],
  "log_dir" => spec["log_dir"]
}

IO.puts("BENCH_JSON " <> Bench.Json.encode(out))
