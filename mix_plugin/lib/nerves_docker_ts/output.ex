defmodule NervesDockerTs.Output do
  @moduledoc """
  Shows what the sidecar reports through `Mix.shell()`: headers, headlines,
  info and warnings as lines; on a terminal a live status line (rewritten in
  place), otherwise keep-alive dots; prompts answered with `Mix.shell().yes?/1`.
  A one-off command's own output (`log` events) goes to stdout and stderr as
  it came, as the CLI writes it (Mix's standard IO takes text: a UTF-8
  character split between two chunks is joined, a byte that is not UTF-8
  shows as U+FFFD).

  Setting `NERVES_DOCKER_TS_YES=1` answers every prompt with yes (for CI and
  scripted runs).
  """

  @label "nerves_docker_ts"

  @doc "Handles one event of a request."
  @spec event(String.t(), term()) :: :ok
  def event("header", text), do: line([:inverse, "|#{@label}| #{text}", :reset])
  def event("headline", text), do: line(text)
  def event("info", text), do: line(text)
  def event("warn", text), do: clear_then(fn -> Mix.shell().error([:yellow, to_string(text), :reset]) end)
  def event("error", text), do: clear_then(fn -> Mix.shell().error(to_string(text)) end)
  def event("dot", _), do: raw(".")
  def event("status", text) when is_binary(text), do: status(text)
  def event("progress", %{"text" => text}), do: status(text)

  def event("log", %{"stream" => stream, "data" => data}) when is_binary(data),
    do: clear_then(fn -> log(stream, data) end)

  # Events of a newer sidecar that this plugin does not know.
  def event(_other, _data), do: :ok

  @doc "Answers a prompt of the sidecar."
  @spec prompt(map()) :: term()
  def prompt(%{"kind" => "yes", "message" => message}) do
    clear_status()

    cond do
      System.get_env("NERVES_DOCKER_TS_YES") in ["1", "true", "yes"] ->
        Mix.shell().info([message, "(yes: NERVES_DOCKER_TS_YES is set)"])
        true

      Mix.shell() == Mix.Shell.IO ->
        yes_on_terminal?(message)

      true ->
        Mix.shell().yes?(message)
    end
  end

  def prompt(_other), do: nil

  # Mix.Shell.IO.yes?/1, except that no terminal to answer on (stdin closed: CI, a pipe) says so
  # and how to answer, instead of a "no" that reads as the user's.
  defp yes_on_terminal?(message) do
    case IO.gets(message <> " [Yn] ") do
      answer when is_binary(answer) ->
        String.trim(answer) in ["", "y", "Y", "yes", "YES", "Yes"]

      _eof ->
        IO.write("\n")
        Mix.shell().error("No terminal to answer on: set NERVES_DOCKER_TS_YES=1 to answer yes.")
        false
    end
  end

  @doc """
  Ends a status line (or a line of dots) left by a request that is over, its
  text kept: what follows, such as the error of an interrupted build, starts
  on a line of its own.
  """
  @spec end_line() :: :ok
  def end_line do
    cond do
      Process.delete({__MODULE__, :status}) -> IO.write("\n")
      Process.delete({__MODULE__, :dots}) && Mix.shell() == Mix.Shell.IO -> IO.write("\n")
      true -> :ok
    end

    :ok
  end

  @doc "True when Mix prints to a terminal, so a status line can be rewritten in place."
  @spec terminal?() :: boolean()
  def terminal? do
    Mix.shell() == Mix.Shell.IO and match?({:ok, _}, :io.columns())
  end

  defp line(text), do: clear_then(fn -> Mix.shell().info(text) end)

  # As it came on Mix's own terminal; through another Mix shell (tests, embedding) as lines.
  defp log(stream, data) do
    text = utf8(stream, (Process.delete({__MODULE__, :partial, stream}) || "") <> data)

    cond do
      Mix.shell() == Mix.Shell.IO -> IO.write(if(stream == "stderr", do: :stderr, else: :stdio), text)
      text == "" -> :ok
      stream == "stderr" -> Mix.shell().error(String.replace_suffix(text, "\n", ""))
      true -> Mix.shell().info(String.replace_suffix(text, "\n", ""))
    end
  end

  # The valid UTF-8 of a chunk; an incomplete character at its end waits for the next chunk.
  defp utf8(stream, data) do
    case :unicode.characters_to_binary(data) do
      text when is_binary(text) ->
        text

      {:incomplete, text, rest} ->
        Process.put({__MODULE__, :partial, stream}, rest)
        text

      {:error, text, <<_bad, rest::binary>>} ->
        text <> "\uFFFD" <> utf8(stream, rest)
    end
  end

  defp clear_then(fun) do
    clear_status()
    fun.()
    :ok
  end

  defp status(text) do
    if terminal?() do
      cols =
        case :io.columns() do
          {:ok, n} -> n
          _ -> 80
        end

      IO.write(["\r\e[K", String.slice(to_string(text), 0, max(cols - 1, 10))])
      Process.put({__MODULE__, :status}, true)
    end

    :ok
  end

  defp raw(text) do
    if Mix.shell() == Mix.Shell.IO, do: IO.write(text), else: Mix.shell().info(text)
    Process.put({__MODULE__, :dots}, true)
    :ok
  end

  defp clear_status do
    cond do
      Process.delete({__MODULE__, :status}) -> IO.write("\r\e[K")
      Process.delete({__MODULE__, :dots}) && Mix.shell() == Mix.Shell.IO -> IO.write("\n")
      true -> :ok
    end
  end
end
