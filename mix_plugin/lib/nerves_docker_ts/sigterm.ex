defmodule NervesDockerTs.Sigterm do
  @moduledoc false
  # SIGTERM while an op of a Mix task runs (a CI job's timeout, `kill PID`):
  # the BEAM's own handling stops the VM with status 0, so an interrupted
  # build looked like a success to whatever ran it. While an op runs, SIGTERM
  # cancels it instead: the op cleans up (its container goes, the build volume
  # stays), what it replied is shown, and the VM halts with status 130, the
  # status of an interrupted `nerves-docker` command.

  @interrupted 130
  # The sidecar's own cleanup is bounded to 10 s, its stop waits 10 s more.
  @cleanup_wait_ms 25_000

  @doc """
  Runs `fun` with SIGTERM trapped; if it comes, the request `fun` awaits is
  cancelled (`NervesDockerTs.Sidecar` takes the message), `on_interrupt` is
  given what `fun` returned, and the VM halts with status 130.
  """
  @spec cancelling((() -> result), (result -> any())) :: result when result: var
  def cancelling(fun, on_interrupt) do
    caller = self()

    trap =
      case System.trap_signal(:sigterm, fn -> on_sigterm(caller) end) do
        {:ok, id} -> id
        {:error, _} -> nil
      end

    try do
      result = fun.()

      receive do
        # Taken by the request's wait (it cancelled the op), or come before or after it.
        {msg, handler} when msg in [:nerves_docker_ts_cancelled, :nerves_docker_ts_cancel] ->
          on_interrupt.(result)
          send(handler, :nerves_docker_ts_done)
          # The handler halts the VM now; nothing else of the task may run.
          Process.sleep(:infinity)
      after
        0 -> result
      end
    after
      if trap, do: System.untrap_signal(:sigterm, trap)
    end
  end

  # Runs in the VM's signal handler process: it waits for the op's end, then halts.
  defp on_sigterm(caller) do
    ref = Process.monitor(caller)
    send(caller, {:nerves_docker_ts_cancel, self()})

    receive do
      :nerves_docker_ts_done -> :ok
      {:DOWN, ^ref, :process, _, _} -> :ok
    after
      @cleanup_wait_ms -> :ok
    end

    System.halt(@interrupted)
  end
end
