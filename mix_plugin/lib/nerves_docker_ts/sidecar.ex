defmodule NervesDockerTs.Sidecar do
  @moduledoc """
  Owns the Node sidecar: starts it through an Erlang port (`{:packet, 4}`
  frames of msgpack, see `docs/protocol.md`), checks its hello, sends
  requests, routes events, prompts and replies back to the calling process.

  Several requests may be in flight at once, from one or more processes.
  Stopping it waits (up to 10 s) until it has run its cleanup and exited,
  so that the job's container is gone when a Mix task returns; it also exits
  by itself when its stdin closes, so it never outlives this process or the VM.

  This module is the public API and the port loop (a GenServer); where the
  sidecar comes from is `NervesDockerTs.Sidecar.Locate`, its hello
  `NervesDockerTs.Sidecar.Hello`, the server's state and port
  `NervesDockerTs.Sidecar.State`.

  Environment:

    * `NERVES_DOCKER_TS_NODE` - the `node` executable (default: `node` on PATH)
    * `NERVES_DOCKER_TS_SIDECAR` - the sidecar entry (default: the plugin's own
      `priv/sidecar.mjs`, the entry of the bundle it ships; see `NervesDockerTs.Sidecar.Locate`)
    * `NERVES_DOCKER_TS_HELLO_TIMEOUT` - milliseconds to wait for the hello (default 15000)
    * `NERVES_DOCKER_TS_NO_AUTOBUILD=1` - do not build an unbuilt checkout on first use
  """
  use GenServer

  alias NervesDockerTs.{Error, Msgpack}
  alias NervesDockerTs.Sidecar.{Hello, Locate, State}

  @type server :: pid()

  # How long stop/1 waits for the sidecar's cleanup and exit (its own cleanup is bounded to 10 s).
  @stop_wait_ms 10_000

  # What to do about frames this plugin cannot read.
  @mismatch_hint "Use the sidecar and the Mix plugin from the same nerves-docker-ts checkout; " <>
                   "if they are, run the command again with NERVES_DEBUG=1 and report the output."

  ## Public API

  @doc """
  Starts a sidecar and waits for its hello. Returns `{:ok, pid}` or
  `{:error, %NervesDockerTs.Error{}}`. The server is linked to the caller
  and stops (the sidecar runs its cleanup and exits) when the caller exits.
  With `await_hello: false` it returns at once and the hello is awaited by
  the server; a failed start then comes back as the error of the first
  request.
  """
  @spec start_link(keyword()) :: {:ok, server()} | {:error, Error.t()}
  def start_link(opts \\ []) do
    # Not GenServer.start_link: a failed start is an error reply, not an exit signal to the caller.
    case GenServer.start(__MODULE__, {self(), opts}) do
      {:ok, pid} ->
        Process.link(pid)
        {:ok, pid}

      {:error, %Error{} = err} ->
        {:error, err}

      {:error, other} ->
        {:error, %Error{code: "sidecar_start", reason: "could not start the sidecar: #{inspect(other)}"}}
    end
  end

  @doc """
  Stops the sidecar: it runs its cleanup (the job's container goes) and
  exits; waits for that up to #{@stop_wait_ms} ms, then closes its stdin.
  """
  @spec stop(server()) :: :ok
  def stop(server) do
    GenServer.stop(server, :normal)
  catch
    :exit, _ -> :ok
  end

  @doc "The hello map the sidecar sent (protocol, version, node, pid), plus the `\"entry\"` script node runs."
  @spec hello(server()) :: map()
  def hello(server), do: GenServer.call(server, :hello)

  @doc """
  Sends a request and waits for its final reply, handling events and prompts
  on the way.

  Options:
    * `:on_event` - `fn event, data -> any end` (default `NervesDockerTs.Output.event/2`)
    * `:on_prompt` - `fn prompt_map -> answer end` (default `NervesDockerTs.Output.prompt/1`)
    * `:timeout` - milliseconds without any message before giving up: the request is
      cancelled and forgotten (default `:infinity`)
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
  @spec run(String.t(), term() | (() -> term()), keyword()) :: {:ok, term()} | {:error, Error.t()}
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

      # A signal that ends the VM (SIGTERM, see NervesDockerTs.BuildRunner): the op is cancelled
      # and awaited, so that it cleans up and says so; the caller learns of it afterwards.
      {:nerves_docker_ts_cancel, from} ->
        cancel(server, id)
        send(self(), {:nerves_docker_ts_cancelled, from})
        await(server, id, mref, on_event, on_prompt, timeout)

      {:nerves_docker_ts, ^id, {:ok, value}} ->
        {:ok, value}

      {:nerves_docker_ts, ^id, {:error, %Error{} = err}} ->
        {:error, err}

      {:DOWN, ^mref, :process, _, reason} ->
        {:error, %Error{code: "sidecar_down", reason: "the sidecar owner stopped: #{inspect(reason)}"}}
    after
      timeout ->
        abandon(server, id)
        {:error, %Error{code: "timeout", reason: "no answer from the sidecar within #{timeout} ms"}}
    end
  end

  # A request given up on: the sidecar is told to stop it and the server forgets it, so that
  # its late reply goes nowhere; what the server sent for it before is dropped here.
  defp abandon(server, id) do
    try do
      GenServer.call(server, {:abandon, id})
    catch
      :exit, _ -> :ok
    end

    flush(id)
  end

  defp flush(id) do
    receive do
      {:nerves_docker_ts, ^id, _} -> flush(id)
    after
      0 -> :ok
    end
  end

  ## GenServer

  @impl true
  def init({owner, opts}) do
    Process.flag(:trap_exit, true)
    # The caller's exit reaches a server started without start_link only as a message: watched
    # from here, not from the link, so that a caller killed while the hello is awaited counts too.
    owner = Process.monitor(owner)

    # All is checked before anything is built or opened (the port, its stderr file).
    with {:ok, hello_timeout} <- Hello.timeout(opts),
         {:ok, node} <- Locate.node(opts),
         {:ok, argv} <- Locate.entry(opts) do
      state = %{State.open(node, argv, Keyword.get(opts, :env, [])) | owner: owner}

      if Keyword.get(opts, :await_hello, true) do
        case Hello.await(state, hello_timeout) do
          {:ok, hello} ->
            {:ok, %{state | hello: Map.put(hello, "entry", state.entry)}}

          {:error, err} ->
            State.close(state)
            {:stop, err}
        end
      else
        # The caller works while Node starts; its first call waits for this.
        {:ok, state, {:continue, {:hello, hello_timeout}}}
      end
    else
      {:error, err} -> {:stop, err}
    end
  end

  @impl true
  def handle_continue({:hello, timeout}, state) do
    case Hello.await(state, timeout) do
      {:ok, hello} ->
        {:noreply, %{state | hello: Map.put(hello, "entry", state.entry)}}

      {:error, err} ->
        # Kept (not a stop, which would take the linked caller down): requests get this error.
        # The port is forgotten with it, so that its exit signal, which comes later, does not
        # stop the server as a sidecar that died (a late request would then get only sidecar_down).
        State.close(state)
        {:noreply, %{state | hello: {:error, err}, port: nil}}
    end
  end

  @impl true
  def handle_call(:hello, _from, state), do: {:reply, state.hello, state}

  def handle_call({:request, _op, _args, _caller}, _from, %{hello: {:error, err}} = state),
    do: {:reply, {:error, err}, state}

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

  def handle_call({:abandon, id}, _from, state) do
    case Map.pop(state.calls, id) do
      {{_pid, mon}, calls} ->
        Process.demonitor(mon, [:flush])
        send_frame(state, %{"id" => id, "cancel" => true})
        {:reply, :ok, %{state | calls: calls}}

      {nil, _} ->
        {:reply, :ok, state}
    end
  end

  @impl true
  def handle_cast({:send, msg}, state) do
    send_frame(state, msg)
    {:noreply, state}
  end

  @impl true
  def handle_info({port, {:data, body}}, %{port: port} = state) do
    case Msgpack.decode(body) do
      {:ok, msg} -> {:noreply, route(msg, state)}
      {:error, reason} -> bad_frame(state, reason)
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

  # The process that started the sidecar is gone (killed in iex, a crashed test): nobody stops it now.
  def handle_info({:DOWN, owner, :process, _pid, reason}, %{owner: owner} = state),
    do: {:stop, {:shutdown, {:owner_exited, reason}}, state}

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
  def terminate(_reason, state), do: State.close(state, @stop_wait_ms)

  ## Internals

  defp died(state, how) do
    err = %Error{
      code: "sidecar_died",
      reason: "the nerves-docker-ts sidecar #{how}" <> State.stderr_tail(state),
      hint: "Run the failing command again with NERVES_DEBUG=1 for more detail."
    }

    {:stop, :normal, %{fail_calls(state, err) | port: nil}}
  end

  # Not msgpack: what follows cannot be trusted either. A :normal stop (the
  # sidecar is told to shut down) does not take the linked caller down.
  defp bad_frame(state, reason) do
    err = %Error{
      code: "bad_frame",
      reason: "the nerves-docker-ts sidecar sent a malformed frame (#{inspect(reason)})" <> State.stderr_tail(state),
      hint: @mismatch_hint
    }

    {:stop, :normal, fail_calls(state, err)}
  end

  # Every request in flight gets the error as its reply.
  defp fail_calls(state, err) do
    Enum.each(state.calls, fn {id, {pid, _}} -> send(pid, {:nerves_docker_ts, id, {:error, err}}) end)
    %{state | calls: %{}}
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

  defp classify(%{"error" => err}) when not is_nil(err),
    do: bad_reply("an error that is not a map: #{inspect(err)}")

  defp classify(%{"ok" => value}), do: {:final, {:ok, value}}

  defp classify(%{} = msg) do
    keys = msg |> Map.delete("id") |> Map.keys() |> Enum.map_join(", ", &inspect/1)
    bad_reply("neither ok nor error (keys: #{keys})")
  end

  # A final reply this plugin cannot take as a result: an error for the caller, not {:ok, _}.
  defp bad_reply(what) do
    reason = "the nerves-docker-ts sidecar replied with " <> what
    {:final, {:error, %Error{code: "bad_reply", reason: reason, hint: @mismatch_hint}}}
  end

  @doc false
  # Kept here for callers of the old place; see NervesDockerTs.Sidecar.State.
  defdelegate remove_stale_stderr_files(dir), to: State
end
