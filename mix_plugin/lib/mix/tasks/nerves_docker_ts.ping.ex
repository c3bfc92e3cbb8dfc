defmodule Mix.Tasks.NervesDockerTs.Ping do
  @shortdoc "Starts the sidecar and shows that the plugin and sidecar talk"
  @moduledoc """
  Starts the Node sidecar, prints its hello and the engine it finds; fails
  (exit status 1) when no engine answers.

      mix nerves_docker_ts.ping
  """
  use Mix.Task
  alias Mix.Tasks.NervesDockerTs.Project

  @impl true
  def run(_argv) do
    sc = Project.start_sidecar!()
    hello = NervesDockerTs.Sidecar.hello(sc)

    Mix.shell().info(
      "sidecar #{hello["version"]} (protocol #{hello["protocol"]}, node #{hello["node"]}, pid #{hello["pid"]})"
    )

    Mix.shell().info("sidecar entry: #{hello["entry"]}")

    result = NervesDockerTs.Sidecar.request(sc, "engine_info", nil)
    NervesDockerTs.Sidecar.stop(sc)

    case result do
      {:ok, info} ->
        Mix.shell().info("engine: #{info["engine"]} #{info["version"]} (API #{info["apiVersion"]}) at #{info["where"]}")

      # No engine found or answering: the task fails (a script's check must not pass).
      {:error, err} ->
        Mix.raise(Exception.message(err))
    end
  end
end
