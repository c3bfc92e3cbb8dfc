defmodule NervesDockerTs.Sidecar.State do
  @moduledoc false
  # The sidecar server's state: its port (the sidecar's stdin/stdout), the
  # file that collects its stderr (its last lines explain a crash), the
  # requests in flight, the hello and the monitor of the process that started
  # it (its owner). Opening and closing the port live here.

  @stderr_tail_lines 20

  defstruct [:port, :node, :entry, :stderr, :unowned, :hello, :owner, next_id: 1, calls: %{}]

  @type t :: %__MODULE__{}

  @doc "Starts `node argv...` behind a port; returns the state that owns it."
  @spec open(Path.t(), [Path.t()], [{String.t(), String.t() | nil}]) :: t()
  def open(node, [entry | _] = argv, extra_env) do
    stderr_path = stderr_file()
    %__MODULE__{port: open_port(node, argv, stderr_path, extra_env), node: node, entry: entry, stderr: stderr_path}
  end

  @doc """
  Ends the sidecar and removes the stderr file. With `wait_ms` > 0 it asks
  the sidecar to stop (a `shutdown` frame: it runs its cleanup, removing the
  job's container, then exits) and waits up to `wait_ms` for its exit, so
  that nothing of the job is left when the Mix task returns; then, or at
  once with 0, it closes the port (the sidecar also exits when its stdin
  closes, so it never outlives the VM).
  """
  @spec close(t(), non_neg_integer()) :: :ok
  def close(%__MODULE__{port: port} = state, wait_ms \\ 0) do
    if is_port(port) do
      if wait_ms > 0, do: shutdown(port, wait_ms)

      try do
        Port.close(port)
      rescue
        ArgumentError -> :ok
      end
    end

    _ = File.rm(state.stderr)
    :ok
  end

  defp shutdown(port, wait_ms) do
    Port.command(port, NervesDockerTs.Msgpack.encode!(%{"shutdown" => true}))
    await_exit(port, System.monotonic_time(:millisecond) + wait_ms)
  rescue
    # The port is already closed.
    ArgumentError -> :ok
  end

  defp await_exit(port, deadline) do
    left = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:exit_status, _}} ->
        :ok

      {:EXIT, ^port, _} ->
        :ok

      {^port, {:data, body}} ->
        # A sidecar older than the shutdown frame refuses it (an error without id): do not wait for it.
        case NervesDockerTs.Msgpack.decode(body) do
          {:ok, %{"id" => nil, "error" => %{"code" => "bad_request"}}} -> :ok
          _ -> await_exit(port, deadline)
        end
    after
      left -> :ok
    end
  end

  @doc "The last lines the sidecar wrote to stderr, as a paragraph to append to an error (or \"\")."
  @spec stderr_tail(t()) :: String.t()
  def stderr_tail(%__MODULE__{stderr: path}) do
    case File.read(path) do
      {:ok, text} when text != "" ->
        lines = text |> String.split("\n", trim: true) |> Enum.take(-@stderr_tail_lines)
        "\n\nLast lines the sidecar wrote to stderr:\n" <> Enum.join(lines, "\n")

      _ ->
        ""
    end
  end

  # A VM that was killed could not remove its sidecars' stderr files: remove
  # those whose VM (the OS pid in the name) is gone. Linux only (/proc).
  @doc false
  def remove_stale_stderr_files(dir) do
    if File.dir?("/proc/self") do
      for path <- Path.wildcard(Path.join(dir, "nerves-docker-ts-sidecar-*-*.log")),
          [_, pid] <- [Regex.run(~r/-(\d+)\.log$/, path)],
          not File.exists?("/proc/#{pid}") do
        File.rm(path)
      end
    end

    :ok
  end

  defp open_port(node, argv, stderr_path, extra_env) do
    # /bin/sh only redirects the sidecar's stderr into a file (so that a crash
    # can be reported with its last lines), keeps the VM's stderr on fd 3 (for
    # a last notice after the VM died) and then execs node: the paths are
    # passed as arguments, never spliced into the script.
    script = ~s(exec "$0" "$@" 3>&2 2>>"$NDT_SIDECAR_STDERR")

    env =
      [{~c"NDT_SIDECAR_STDERR", String.to_charlist(stderr_path)}, {~c"NDT_NOTICE_FD", ~c"3"}] ++
        Enum.map(extra_env, fn {k, v} -> {String.to_charlist(k), v && String.to_charlist(v)} end)

    Port.open({:spawn_executable, "/bin/sh"}, [
      :binary,
      {:packet, 4},
      :exit_status,
      :use_stdio,
      :hide,
      args: ["-c", script, node | argv],
      env: env
    ])
  end

  defp stderr_file do
    dir = System.tmp_dir!()
    remove_stale_stderr_files(dir)
    name = "nerves-docker-ts-sidecar-#{System.unique_integer([:positive])}-#{:os.getpid()}.log"
    Path.join(dir, name)
  end
end
