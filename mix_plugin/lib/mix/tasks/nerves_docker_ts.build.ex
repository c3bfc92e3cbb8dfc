defmodule Mix.Tasks.NervesDockerTs.Build do
  @shortdoc "Builds the project's Nerves system artifact in Docker"
  @moduledoc """
  Builds the current project's `nerves_package` with
  `NervesDockerTs.BuildRunner`, as `mix nerves.artifact` would, without
  needing Nerves. Prints the artifact's path on the last line.

      mix nerves_docker_ts.build
  """
  use Mix.Task
  alias Mix.Tasks.NervesDockerTs.Project

  @impl true
  def run(_argv), do: Project.run_job(:build)
end
