defmodule NervesDockerTs.Sidecar do
  @moduledoc """
  Owns the Node sidecar: starts it through an Erlang port (`{:packet, 4}`
  frames of msgpack, see `docs/protocol.md`), checks its hello, sends
  requests, routes events, prompts and replies back to the calling process.

  Several requests may be in flight at once, from one or more processes.
  The sidecar exits by itself when its stdin closes, so it never outlives
  this process or the VM.

  Environment:

    * `NERVES_DOCKER_TS_NODE` - the `node` executable (default: `node` on PATH)
    * `NERVES_DOCKER_TS_SIDECAR` - the sidecar entry (default: `priv/sidecar.mjs`)
    * `NERVES_DOCKER_TS_HELLO_TIMEOUT` - milliseconds to wait for the hello (default 15000)
  """
  use GenServer

  alias NervesDockerTs.{Error, Msgpack}

  @protocol 1
  @min_node_major 20
  @stderr_tail_lines 20
  @source_priv Path.expand("../../../priv", __DIR__)

  @type server :: pid()

  ## Public API

  @doc """
  Starts a sidecar and waits for its hello. Returns `{:ok, pid}` or
  `{:error, %NervesDockerTs.Error{}}`. The server is linked to the caller.
  With `await_hello: false` it returns at once and the hello is awaited by
  the server; a failed start then comes back as the error of the first
  request.
  """
  @spec start_link(keyword()) :: {:ok, server()} | {:error, Error.t()}
  def start_link(opts \\ []) do
    case GenServer.start(__MODULE__, opts) do
      {:ok, pid} ->
        Process.link(pid)
        {:ok, pid}

      {:error, %Error{} = err} ->
        {:error, err}

      {:error, other} ->
        {:error, %Error{code: "sidecar_start", reason: "could not start the sidecar: #{inspect(other)}"}}
    end
  end

  @doc "Stops the sidecar (it runs its cleanup and exits when its stdin closes)."
  @spec stop(server()) :: :ok
  def stop(server) do
    GenServer.stop(server, :normal)
  catch
    :exit, _ -> :ok
  end

  @doc "The hello map the sidecar sent (protocol, version, node, pid)."
  @spec hello(server()) :: map()
  def hello(server), do: GenServer.call(server, :hello)

  @doc """
  Sends a request and waits for its final reply, handling events and prompts
  on the way.

  Options:
    * `:on_event` - `fn event, data -> any end` (default `NervesDockerTs.Output.event/2`)
    * `:on_prompt` - `fn prompt_map -> answer end` (default `NervesDockerTs.Output.prompt/1`)
    * `:timeout` - milliseconds without any message before giving up (default `:infinity`)
  """
  @spec request(server(), String.t(), term(), keyword()) :: {:ok, term()} | {:error, Error.t()}
  def request(server, op, args, opts \\ []) do
    on_event = Keyword.get(opts, :on_event, &NervesDockerTs.Output.event/2)
    on_prompt = Keyword.get(opts, :on_prompt, &NervesDockerTs.Output.prompt/1)
    timeout = Keyword.get(opts, :timeout, :infinity)
    ref = Process.monitor(server)

    try do
      case GenServer.call(server, {:request, op, args, self()}, :infinity) do
        {:ok, id} -> await(server, id, ref, on_event, on_prompt, timeout)
        {:error, %Error{} = err} -> {:error, err}
      end
    catch
      :exit, _ -> {:error, %Error{code: "sidecar_down", reason: "the sidecar is not running"}}
    after
      Process.demonitor(ref, [:flush])
    end
  end

  @doc "Like `request/4` but raises `NervesDockerTs.Error` on an error reply."
  @spec request!(server(), String.t(), term(), keyword()) :: term()
  def request!(server, op, args, opts \\ []) do
    case request(server, op, args, opts) do
      {:ok, value} -> value
      {:error, err} -> raise err
    end
  end

  @doc "Cancels a request in flight (the sidecar stops its work and replies with an error)."
  @spec cancel(server(), integer()) :: :ok
  def cancel(server, id), do: GenServer.cast(server, {:send, %{"id" => id, "cancel" => true}})

  @doc false
  # Sends raw bytes as one frame body (for protocol tests).
  @spec send_raw(server(), iodata()) :: :ok
  def send_raw(server, body), do: GenServer.call(server, {:send_raw, body})

  @doc false
  # Subscribes the caller to frames that no request owns (id nil).
  @spec subscribe_unowned(server()) :: :ok
  def subscribe_unowned(server), do: GenServer.call(server, {:subscribe_unowned, self()})

  @doc """
  Starts a sidecar, runs one request on it, and stops it. `args` may be a
  function: it is called while the sidecar starts.
  """
  @spec run(String.t(), term() | (-> term()), keyword()) :: {:ok, term()} | {:error, Error.t()}
  def run(op, args, opts \\ []) do
    sidecar_opts = Keyword.get(opts, :sidecar, [])
    # args as a function: computed while the sidecar starts (Node's start is most of it).
    sidecar_opts = if is_function(args, 0), do: Keyword.put_new(sidecar_opts, :await_hello, false), else: sidecar_opts

    with {:ok, pid} <- start_link(sidecar_opts) do
      try do
        args = if is_function(args, 0), do: args.(), else: args
        request(pid, op, args, opts)
      after
        stop(pid)
      end
    end
  end

  defp await(server, id, mref, on_event, on_prompt, timeout) do
    receive do
      {:nerves_docker_ts, ^id, {:event, event, data}} ->
        on_event.(event, data)
        await(server, id, mref, on_event, on_prompt, timeout)

      {:nerves_docker_ts, ^id, {:prompt, prompt}} ->
        answer = on_prompt.(prompt)
        GenServer.cast(server, {:send, %{"id" => id, "ref" => prompt["ref"], "answer" => answer}})
        await(server, id, mref, on_event, on_prompt, timeout)

      {:nerves_docker_ts, ^id, {:ok, value}} ->
        {:ok, value}

      {:nerves_docker_ts, ^id, {:error, %Error{} = err}} ->
        {:error, err}

      {:DOWN, ^mref, :process, _, reason} ->
        {:error, %Error{code: "sidecar_down", reason: "the sidecar owner stopped: #{inspect(reason)}"}}
    after
      timeout ->
        cancel(server, id)
        {:error, %Error{code: "timeout", reason: "no answer from the sidecar within #{timeout} ms"}}
    end
  end

  ## GenServer

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)

    with {:ok, node} <- find_node(opts),
         {:ok, [entry | _] = argv} <- find_sidecar(opts) do
      stderr_path = stderr_file()
      port = open_port(node, argv, stderr_path, Keyword.get(opts, :env, []))
      state = %{port: port, node: node, entry: entry, stderr: stderr_path, next_id: 1, calls: %{}, unowned: nil, hello: nil}

      if Keyword.get(opts, :await_hello, true) do
        case await_hello(state, hello_timeout(opts)) do
          {:ok, hello} ->
            {:ok, %{state | hello: hello}}

          {:error, err} ->
            close(state)
            {:stop, err}
        end
      else
        # The caller works while Node starts; its first call waits for this.
        {:ok, state, {:continue, {:hello, hello_timeout(opts)}}}
      end
    else
      {:error, err} -> {:stop, err}
    end
  end

  @impl true
  def handle_continue({:hello, timeout}, state) do
    case await_hello(state, timeout) do
      {:ok, hello} ->
        {:noreply, %{state | hello: hello}}

      {:error, err} ->
        # Kept (not a stop, which would take the linked caller down): requests get this error.
        close(state)
        {:noreply, %{state | hello: {:error, err}}}
    end
  end

  @impl true
  def handle_call(:hello, _from, state), do: {:reply, state.hello, state}

  def handle_call({:request, _op, _args, _caller}, _from, %{hello: {:error, err}} = state), do: {:reply, {:error, err}, state}

  def handle_call({:request, op, args, caller}, _from, state) do
    id = state.next_id

    case Msgpack.encode(%{"id" => id, "op" => op, "args" => args}) do
      {:ok, body} ->
        Port.command(state.port, body)
        mon = Process.monitor(caller)
        calls = Map.put(state.calls, id, {caller, mon})
        {:reply, {:ok, id}, %{state | next_id: id + 1, calls: calls}}

      {:error, reason} ->
        err = %Error{code: "encode", reason: "cannot encode the arguments of #{op}: #{inspect(reason)}"}
        {:reply, {:error, err}, state}
    end
  end

  def handle_call({:send_raw, body}, _from, state) do
    Port.command(state.port, body)
    {:reply, :ok, state}
  end

  def handle_call({:subscribe_unowned, pid}, _from, state), do: {:reply, :ok, %{state | unowned: pid}}

  @impl true
  def handle_cast({:send, msg}, state) do
    send_frame(state, msg)
    {:noreply, state}
  end

  @impl true
  def handle_info({port, {:data, body}}, %{port: port} = state) do
    case Msgpack.decode(body) do
      {:ok, msg} -> {:noreply, route(msg, state)}
      {:error, reason} -> {:stop, {:shutdown, {:bad_frame, reason}}, state}
    end
  end

  def handle_info({port, {:exit_status, status}}, %{port: port} = state) do
    died(state, "exited with status #{status}")
  end

  # The port broke while writing (EPIPE: the sidecar is gone); no exit status follows.
  def handle_info({:EXIT, port, reason}, %{port: port} = state) do
    receive do
      {^port, {:exit_status, status}} -> died(state, "exited with status #{status}")
    after
      1000 -> died(state, "closed the port (#{inspect(reason)})")
    end
  end

  def handle_info({:DOWN, mon, :process, _pid, _}, state) do
    case Enum.find(state.calls, fn {_id, {_pid, m}} -> m == mon end) do
      {id, _} ->
        send_frame(state, %{"id" => id, "cancel" => true})
        {:noreply, %{state | calls: Map.delete(state.calls, id)}}

      nil ->
        {:noreply, state}
    end
  end

  def handle_info({:EXIT, _pid, reason}, state) when reason in [:normal, :shutdown], do: {:noreply, state}
  def handle_info({:EXIT, _port, _reason}, state), do: {:noreply, state}
  def handle_info(_msg, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state), do: close(state)

  ## Internals

  defp died(state, how) do
    err = %Error{
      code: "sidecar_died",
      reason: "the nerves-docker-ts sidecar #{how}" <> stderr_tail(state.stderr),
      hint: "Run the failing command again with NERVES_DEBUG=1 for more detail."
    }

    Enum.each(state.calls, fn {id, {pid, _}} -> send(pid, {:nerves_docker_ts, id, {:error, err}}) end)
    {:stop, :normal, %{state | calls: %{}, port: nil}}
  end

  defp send_frame(%{port: port}, msg) when is_port(port) do
    Port.command(port, Msgpack.encode!(msg))
    :ok
  rescue
    ArgumentError -> :ok
  end

  defp send_frame(_state, _msg), do: :ok

  defp route(%{"id" => id} = msg, state) when is_integer(id) do
    case Map.fetch(state.calls, id) do
      {:ok, {pid, mon}} ->
        case classify(msg) do
          {:final, payload} ->
            Process.demonitor(mon, [:flush])
            send(pid, {:nerves_docker_ts, id, payload})
            %{state | calls: Map.delete(state.calls, id)}

          payload ->
            send(pid, {:nerves_docker_ts, id, payload})
            state
        end

      :error ->
        state
    end
  end

  defp route(msg, state) do
    if state.unowned, do: send(state.unowned, {:nerves_docker_ts, :unowned, msg})
    state
  end

  defp classify(%{"event" => event} = msg), do: {:event, event, msg["data"]}
  defp classify(%{"prompt" => prompt}), do: {:prompt, prompt}
  defp classify(%{"error" => err}) when is_map(err), do: {:final, {:error, Error.from_reply(err)}}
  defp classify(%{"ok" => value}), do: {:final, {:ok, value}}
  defp classify(%{} = msg), do: {:final, {:ok, Map.get(msg, "ok")}}

  defp await_hello(state, timeout) do
    port = state.port

    receive do
      {^port, {:data, body}} ->
        case Msgpack.decode(body) do
          {:ok, %{"hello" => %{} = hello}} -> check_hello(hello, state)
          other -> {:error, %Error{code: "bad_hello", reason: "the sidecar's first frame was not a hello: #{inspect(other)}"}}
        end

      {^port, {:exit_status, status}} ->
        {:error,
         %Error{
           code: "sidecar_died",
           reason: "the sidecar (#{state.entry}) exited with status #{status} before saying hello" <> stderr_tail(state.stderr),
           hint: "Check that #{state.node} is Node #{@min_node_major} or newer and that `npm run build` ran in #{Path.dirname(Path.dirname(state.entry))}."
         }}
    after
      timeout ->
        {:error,
         %Error{
           code: "hello_timeout",
           reason: "the sidecar (#{state.entry}) did not say hello within #{timeout} ms" <> stderr_tail(state.stderr),
           hint: "Set NERVES_DOCKER_TS_HELLO_TIMEOUT (milliseconds) on a slow machine."
         }}
    end
  end

  defp check_hello(%{"protocol" => @protocol} = hello, state) do
    case node_major(hello["node"]) do
      major when is_integer(major) and major >= @min_node_major ->
        {:ok, hello}

      _ ->
        {:error,
         %Error{
           code: "node_too_old",
           reason: "#{state.node} is Node #{hello["node"]}; nerves-docker-ts needs Node #{@min_node_major} or newer",
           hint: "Install Node #{@min_node_major}+ or point NERVES_DOCKER_TS_NODE at one."
         }}
    end
  end

  defp check_hello(hello, state) do
    {:error,
     %Error{
       code: "protocol_mismatch",
       reason:
         "protocol mismatch: this plugin speaks protocol #{@protocol}, the sidecar at #{state.entry} " <>
           "(version #{inspect(hello["version"])}) speaks protocol #{inspect(hello["protocol"])}",
       hint: "Use the sidecar and the Mix plugin from the same nerves-docker-ts checkout, then run `npm run build` there."
     }}
  end

  defp node_major("v" <> rest), do: node_major(rest)

  defp node_major(text) when is_binary(text) do
    case Integer.parse(text) do
      {major, _} -> major
      :error -> nil
    end
  end

  defp node_major(_), do: nil

  defp find_node(opts) do
    explicit = Keyword.get(opts, :node) || System.get_env("NERVES_DOCKER_TS_NODE")

    cond do
      is_binary(explicit) and explicit != "" ->
        case System.find_executable(explicit) do
          nil ->
            {:error,
             %Error{
               code: "node_not_found",
               reason: "NERVES_DOCKER_TS_NODE is #{inspect(explicit)}, which is not an executable",
               hint: "Point NERVES_DOCKER_TS_NODE at Node #{@min_node_major}+ (for example `$(command -v node)`), or unset it."
             }}

          path ->
            {:ok, path}
        end

      path = System.find_executable("node") ->
        {:ok, path}

      true ->
        {:error,
         %Error{
           code: "node_not_found",
           reason: "Node.js was not found on PATH; nerves-docker-ts runs its sidecar with Node #{@min_node_major} or newer",
           hint: "Install Node #{@min_node_major}+ (https://nodejs.org or your package manager), or set NERVES_DOCKER_TS_NODE to its path."
         }}
    end
  end

  @doc false
  # Where the sidecar entry is looked for, in order.
  @spec sidecar_candidates() :: [Path.t()]
  def sidecar_candidates do
    app_priv =
      case :code.priv_dir(:nerves_docker_ts) do
        {:error, _} -> []
        dir -> [Path.join(to_string(dir), "sidecar.mjs")]
      end

    Enum.uniq(app_priv ++ [Path.join(@source_priv, "sidecar.mjs")])
  end

  # Returns {:ok, argv}: what node runs (the entry script and its arguments).
  defp find_sidecar(opts) do
    explicit = Keyword.get(opts, :sidecar) || System.get_env("NERVES_DOCKER_TS_SIDECAR")

    cond do
      explicit ->
        path = Path.expand(explicit)

        if File.regular?(path),
          do: {:ok, [path]},
          else: {:error, missing("NERVES_DOCKER_TS_SIDECAR (or :sidecar) names #{path}, which does not exist", "Point it at priv/sidecar.mjs of a built nerves-docker-ts checkout, or unset it.")}

      entry = Enum.find(sidecar_candidates(), &File.regular?/1) ->
        # priv/ may be a symlink (Mix links _build/.../priv to mix_plugin/priv,
        # which links to the repository's priv/): resolve it to find dist/.
        entry = realpath(entry)
        root = entry |> Path.dirname() |> Path.dirname()

        if built?(root) or build_sidecar(root) == :ok do
          {:ok, [entry]}
        else
          {:error,
           %Error{
             code: "sidecar_not_built",
             reason: "the nerves-docker-ts sidecar is not built (#{Path.join(root, "dist")} is missing)",
             hint: "Build it: `cd #{root} && npm install && npm run build`."
           }}
        end

      bin = System.find_executable("nerves-docker") ->
        # An installed npm package (npm install -g nerves-docker-ts) carries the sidecar.
        {:ok, [realpath(bin), "sidecar"]}

      true ->
        {:error,
         missing(
           "the nerves-docker-ts sidecar was not found (looked at #{Enum.join(sidecar_candidates(), ", ")} and for `nerves-docker` on PATH)",
           "Build it in the checkout (`npm install && npm run build`), install the npm package (`npm install -g nerves-docker-ts`), or set NERVES_DOCKER_TS_SIDECAR."
         )}
    end
  end

  defp missing(reason, hint), do: %Error{code: "sidecar_missing", reason: reason, hint: hint}

  defp built?(root), do: File.regular?(Path.join(root, "dist/sidecar/main.js"))

  # A checkout used as a path dependency: build the sidecar once, on first use.
  defp build_sidecar(root) do
    npm = System.find_executable("npm")

    if npm && File.regular?(Path.join(root, "package.json")) && System.get_env("NERVES_DOCKER_TS_NO_AUTOBUILD") != "1" do
      Mix.shell().info("nerves_docker_ts: building the sidecar in #{root} (npm install && npm run build), once")

      with {_, 0} <- System.cmd(npm, ["install", "--no-audit", "--no-fund", "--loglevel=error"], cd: root, stderr_to_stdout: true),
           {_, 0} <- System.cmd(npm, ["run", "--silent", "build"], cd: root, stderr_to_stdout: true),
           true <- built?(root) do
        :ok
      else
        {out, status} ->
          Mix.shell().error("nerves_docker_ts: building the sidecar failed (status #{status}):\n#{out}")
          :error

        _ ->
          :error
      end
    else
      :error
    end
  end

  defp realpath(path), do: path |> Path.expand() |> Path.split() |> Enum.reduce("/", &follow(Path.join(&2, &1), 40))

  defp follow(path, 0), do: path

  defp follow(path, hops) do
    case File.read_link(path) do
      {:ok, target} -> follow(Path.expand(target, Path.dirname(path)) |> realpath(), hops - 1)
      {:error, _} -> path
    end
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

  defp stderr_tail(path) do
    case File.read(path) do
      {:ok, text} when text != "" ->
        lines = text |> String.split("\n", trim: true) |> Enum.take(-@stderr_tail_lines)
        "\n\nLast lines the sidecar wrote to stderr:\n" <> Enum.join(lines, "\n")

      _ ->
        ""
    end
  end

  defp hello_timeout(opts) do
    case Keyword.get(opts, :hello_timeout) || System.get_env("NERVES_DOCKER_TS_HELLO_TIMEOUT") do
      nil -> 15_000
      n when is_integer(n) -> n
      text -> String.to_integer(text)
    end
  end

  defp close(%{port: port} = state) do
    if is_port(port) do
      try do
        Port.close(port)
      rescue
        ArgumentError -> :ok
      end
    end

    _ = File.rm(state.stderr)
    :ok
  end
end
