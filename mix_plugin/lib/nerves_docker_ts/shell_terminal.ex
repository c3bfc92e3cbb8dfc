defmodule NervesDockerTs.ShellTerminal do
  @moduledoc """
  The BEAM's side of sharing the user's terminal with the sidecar while the
  Nerves system shell runs.

  The sidecar is a port program: it has no controlling terminal (the VM
  starts port programs in a new session), so it is told the terminal's path
  (`path/0`) and opens it itself. Meanwhile the VM must not read that
  terminal, or it takes keystrokes meant for the shell:

    * OTP 25 and older read stdin eagerly through the `user` process's fd
      port (`'0/1'`), whatever raw or cooked mode the terminal is in. There is
      no way to pause that port, so `acquire/2` connects it to a relay
      process for the duration of the shell and the relay forwards every byte
      to the sidecar (`:relay` mode: the sidecar then does not read the
      terminal at all, so nothing is reordered). `release/1` hands the port
      back to `user`.
    * OTP 26 and newer read through `prim_tty`'s reader process
      (`user_drv_reader`), which can be disabled and enabled again (as the
      shell does around an external editor): the sidecar reads the terminal
      itself (`:tty` mode).

  As a backstop for a sidecar that dies while the terminal is raw, the
  terminal's settings are saved (`stty -g`) and put back on release.
  """

  @type t :: %{mode: :relay | :tty, tty: String.t(), saved: String.t() | nil, relay: pid() | nil, reader: pid() | nil}

  @doc "The path of the VM's terminal (stdin, stdout or stderr, else its controlling terminal), or nil."
  @spec path() :: String.t() | nil
  def path do
    Enum.find_value(0..2, &fd_tty/1) || controlling_tty()
  end

  defp fd_tty(fd) do
    case File.read_link("/proc/#{:os.getpid()}/fd/#{fd}") do
      {:ok, target} -> if tty_device?(target), do: target
      _ -> nil
    end
  end

  defp tty_device?(path), do: Regex.match?(~r{^/dev/(pts/\d+|tty[A-Za-z0-9]*|console)$}, path)

  defp controlling_tty do
    case System.cmd("ps", ["-o", "tty=", "-p", to_string(:os.getpid())], stderr_to_stdout: true) do
      {out, 0} ->
        name = String.trim(out)
        if name not in ["", "?", "??"] and not String.contains?(name, " "), do: "/dev/" <> name

      _ ->
        nil
    end
  rescue
    ErlangError -> nil
  end

  @doc """
  Stops the VM from reading `tty`. `forward` is called (from another
  process) with each chunk of bytes the VM reads meanwhile, in `:relay` mode.
  """
  @spec acquire(String.t(), (binary() -> any())) :: t()
  def acquire(tty, forward) do
    saved = stty(["-g"], tty)
    port = stdin_port()
    relay = if port != nil and stdin_is?(tty), do: start_relay(port, forward)

    cond do
      relay != nil ->
        %{mode: :relay, tty: tty, saved: saved, relay: relay, reader: nil}

      reader = Process.whereis(:user_drv_reader) ->
        %{mode: :tty, tty: tty, saved: saved, relay: nil, reader: if(reader_call(reader, :disable), do: reader)}

      true ->
        %{mode: :tty, tty: tty, saved: saved, relay: nil, reader: nil}
    end
  end

  @doc "Lets the VM read its terminal again and puts the saved settings back."
  @spec release(t() | nil) :: :ok
  def release(nil), do: :ok

  def release(state) do
    if state.relay, do: stop_relay(state.relay)
    if state.reader, do: reader_call(state.reader, :enable)
    if state.saved, do: stty([state.saved], state.tty)
    :ok
  end

  ## stdin of OTP <= 25: the user process's fd port

  defp stdin_port do
    Enum.find(Port.list(), fn p -> Port.info(p, :name) == {:name, ~c"0/1"} end)
  end

  defp stdin_is?(tty) do
    case File.read_link("/proc/#{:os.getpid()}/fd/0") do
      {:ok, target} -> target == tty
      # No /proc (macOS): the fd port exists, so stdin is most likely the terminal.
      {:error, _} -> true
    end
  end

  defp start_relay(port, forward) do
    caller = self()

    pid =
      spawn_link(fn ->
        with {:connected, user} <- Port.info(port, :connected),
             true <- connect(port, self()) do
          Process.unlink(port)
          send(caller, {:relay_ready, self()})
          relay_loop(port, user, forward)
        else
          _ -> send(caller, {:relay_failed, self()})
        end
      end)

    receive do
      {:relay_ready, ^pid} -> pid
      {:relay_failed, ^pid} -> nil
    after
      5000 -> nil
    end
  end

  defp connect(port, pid) do
    :erlang.port_connect(port, pid)
  rescue
    ArgumentError -> false
  end

  defp relay_loop(port, user, forward) do
    receive do
      {^port, {:data, data}} ->
        forward.(more(port, data))
        relay_loop(port, user, forward)

      {:stop, from} ->
        _ = connect(port, user)
        Process.unlink(port)
        hand_back(port, user)
        send(from, {:relay_stopped, self()})

      {^port, _other} = msg ->
        send(user, msg)
        relay_loop(port, user, forward)
    end
  end

  # Coalesces what is already queued, so a paste goes as one chunk.
  defp more(port, acc) do
    receive do
      {^port, {:data, data}} -> more(port, acc <> data)
    after
      0 -> acc
    end
  end

  defp hand_back(port, user) do
    receive do
      {^port, _} = msg ->
        send(user, msg)
        hand_back(port, user)
    after
      0 -> :ok
    end
  end

  defp stop_relay(pid) do
    ref = Process.monitor(pid)
    send(pid, {:stop, self()})

    receive do
      {:relay_stopped, ^pid} -> :ok
      {:DOWN, ^ref, :process, ^pid, _} -> :ok
    after
      5000 -> :ok
    end

    Process.demonitor(ref, [:flush])
    Process.unlink(pid)
  end

  ## stdin of OTP >= 26: prim_tty's reader process

  defp reader_call(pid, msg) do
    alias = :erlang.monitor(:process, pid, [{:alias, :reply_demonitor}])
    send(pid, {alias, msg})

    receive do
      {^alias, :ok} -> true
      {:DOWN, ^alias, :process, _, _} -> false
    after
      1000 ->
        :erlang.demonitor(alias, [:flush])
        false
    end
  end

  ## Terminal settings (stty reads the terminal on its stdin; the path is an argument, never spliced)

  defp stty(args, tty) do
    case System.cmd("/bin/sh", ["-c", ~s(exec stty "$@" < "$0"), tty | args], stderr_to_stdout: true) do
      {out, 0} -> String.trim(out)
      _ -> nil
    end
  rescue
    ErlangError -> nil
  end
end
