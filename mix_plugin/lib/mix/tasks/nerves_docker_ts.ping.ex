defmodule Mix.Tasks.NervesDockerTs.Ping do
  @shortdoc "Starts the sidecar and shows that the plugin and sidecar talk"
  @moduledoc """
  Starts the Node sidecar, prints its hello and the engine it finds.

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

    case NervesDockerTs.Sidecar.request(sc, "engine_info", nil) do
      {:ok, info} ->
        Mix.shell().info("engine: #{info["engine"]} #{info["version"]} (API #{info["apiVersion"]}) at #{info["where"]}")

      {:error, err} ->
        Mix.shell().error(Exception.message(err))
    end

    NervesDockerTs.Sidecar.stop(sc)
  end
end
