defmodule NervesDockerTs.Sidecar.Hello do
  @moduledoc false
  # The sidecar's first frame: waits for it and checks the protocol version
  # and Node's major version, with an error that says what to do otherwise.

  alias NervesDockerTs.{Error, Msgpack}
  alias NervesDockerTs.Sidecar.{Locate, State}

  @protocol 1

  @doc """
  How long to wait for the hello: the :hello_timeout option,
  NERVES_DOCKER_TS_HELLO_TIMEOUT (milliseconds; empty is unset), or 15 s.
  Checked before the sidecar starts: anything but milliseconds is an error.
  """
  @spec timeout(keyword()) :: {:ok, non_neg_integer()} | {:error, Error.t()}
  def timeout(opts) do
    {source, value} =
      case Keyword.fetch(opts, :hello_timeout) do
        {:ok, v} when v not in [nil, ""] -> {:option, v}
        _ -> {:env, System.get_env("NERVES_DOCKER_TS_HELLO_TIMEOUT")}
      end

    case value do
      empty when empty in [nil, ""] ->
        {:ok, 15_000}

      ms when is_integer(ms) and ms >= 0 ->
        {:ok, ms}

      text when is_binary(text) ->
        case Integer.parse(String.trim(text)) do
          {ms, ""} when ms >= 0 -> {:ok, ms}
          _ -> bad_timeout(source, text)
        end

      other ->
        bad_timeout(source, other)
    end
  end

  defp bad_timeout(source, value) do
    {name, hint} =
      case source do
        :env ->
          {"NERVES_DOCKER_TS_HELLO_TIMEOUT",
           "Set NERVES_DOCKER_TS_HELLO_TIMEOUT to milliseconds, e.g. 30000, or unset it (15000)."}

        :option ->
          {"The :hello_timeout option", "Give :hello_timeout as milliseconds, e.g. 30000, or leave it out (15000)."}
      end

    {:error,
     %Error{
       code: "bad_hello_timeout",
       reason: "#{name} is #{inspect(value)}, not a number of milliseconds",
       hint: hint
     }}
  end

  @doc "Receives the hello from the state's port within `timeout` ms and checks it."
  @spec await(State.t(), non_neg_integer()) :: {:ok, map()} | {:error, Error.t()}
  def await(%State{port: port} = state, timeout) do
    receive do
      {^port, {:data, body}} ->
        case Msgpack.decode(body) do
          {:ok, %{"hello" => %{} = hello}} ->
            check(hello, state)

          other ->
            {:error, %Error{code: "bad_hello", reason: "the sidecar's first frame was not a hello: #{inspect(other)}"}}
        end

      {^port, {:exit_status, status}} ->
        tail = State.stderr_tail(state)
        # Nothing written at all: the program run as node is likely not node (NERVES_DOCKER_TS_NODE=/bin/true).
        said =
          if tail == "",
            do: "It printed nothing, so #{state.node} may not be Node at all (try `#{state.node} --version`)",
            else: "See its message above"

        {:error,
         %Error{
           code: "sidecar_died",
           reason: "the sidecar (#{state.entry}) exited with status #{status} before saying hello" <> tail,
           hint:
             "#{said}. It must be Node #{Locate.min_node_major()} or newer; if the sidecar itself is damaged, " <>
               "fetch the plugin again (`mix deps.clean nerves_docker_ts && mix deps.get`), or run `npm run build` in the nerves-docker-ts checkout that #{state.entry} belongs to."
         }}
    after
      timeout ->
        {:error,
         %Error{
           code: "hello_timeout",
           reason: "the sidecar (#{state.entry}) did not say hello within #{timeout} ms" <> State.stderr_tail(state),
           hint: "Set NERVES_DOCKER_TS_HELLO_TIMEOUT (milliseconds) on a slow machine."
         }}
    end
  end

  defp check(%{"protocol" => @protocol} = hello, state) do
    min = Locate.min_node_major()

    case node_major(hello["node"]) do
      major when is_integer(major) and major >= min ->
        {:ok, hello}

      _ ->
        {:error,
         %Error{
           code: "node_too_old",
           reason: "#{state.node} is Node #{hello["node"]}; nerves-docker-ts needs Node #{min} or newer",
           hint: "Install Node #{min}+ or point NERVES_DOCKER_TS_NODE at one."
         }}
    end
  end

  defp check(hello, state) do
    {:error,
     %Error{
       code: "protocol_mismatch",
       reason:
         "protocol mismatch: this plugin speaks protocol #{@protocol}, the sidecar at #{state.entry} " <>
           "(version #{inspect(hello["version"])}) speaks protocol #{inspect(hello["protocol"])}",
       hint:
         "Use the sidecar and the Mix plugin from the same nerves-docker-ts checkout, then run `npm run build` there."
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
end
