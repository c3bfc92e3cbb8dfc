defmodule NervesDockerTs.VmKillTest do
  # A child never outlives the BEAM: SIGKILL the VM while a request is in
  # flight and the sidecar must notice its stdin closing and exit.
  use ExUnit.Case, async: true
  alias NervesDockerTs.TestOsProcess

  @script """
  {:ok, sc} = NervesDockerTs.Sidecar.start_link()
  IO.puts("SIDECAR_PID=\#{NervesDockerTs.Sidecar.hello(sc)["pid"]}")
  spawn(fn -> NervesDockerTs.Sidecar.request(sc, "sleep", %{"ms" => 600_000}, on_event: fn _, _ -> IO.puts("IN_FLIGHT") end) end)
  Process.sleep(:infinity)
  """

  test "SIGKILL of the VM during a request makes the sidecar exit within 2 seconds" do
    ebin = Path.join(:code.lib_dir(:nerves_docker_ts), "ebin")
    dir = Path.join(System.tmp_dir!(), "ndt-kill-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    script = Path.join(dir, "vm.exs")
    File.write!(script, @script)
    out = Path.join(dir, "out")
    # A child VM whose output goes to a file; `echo $!` gives its OS pid.
    {vm_pid, 0} = System.cmd("sh", ["-c", ~s(elixir -pa "$1" "$2" >"$3" 2>&1 & echo $!), "sh", ebin, script, out])

    vm_pid = String.trim(vm_pid)
    sidecar_pid = wait_for(fn -> Regex.run(~r/SIDECAR_PID=(\d+)[\s\S]*IN_FLIGHT/, File.read!(out)) end, 15_000)
    [_, sidecar_pid] = sidecar_pid
    assert TestOsProcess.alive?(sidecar_pid)

    {_, 0} = System.cmd("kill", ["-KILL", vm_pid])
    t0 = System.monotonic_time(:millisecond)
    wait_for(fn -> not TestOsProcess.alive?(sidecar_pid) end, 5_000)
    elapsed = System.monotonic_time(:millisecond) - t0
    assert elapsed < 2_000, "sidecar #{sidecar_pid} still ran #{elapsed} ms after the VM was killed"
    File.rm_rf!(dir)
  end

  defp wait_for(fun, timeout) do
    deadline = System.monotonic_time(:millisecond) + timeout

    Stream.repeatedly(fn ->
      case fun.() do
        result when result not in [nil, false] ->
          result

        _ ->
          if System.monotonic_time(:millisecond) > deadline, do: flunk("timed out after #{timeout} ms")
          Process.sleep(20)
          nil
      end
    end)
    |> Enum.find(& &1)
  end
end
