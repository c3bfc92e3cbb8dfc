defmodule Mix.Tasks.NervesDockerTs.Clean do
  @shortdoc "Deletes the project's build volume and artifact cache"
  @moduledoc """
  Deletes the build volume, the build containers and the artifact cache of
  the current project's `nerves_package`, as `mix nerves.clean` does.

      mix nerves_docker_ts.clean
  """
  use Mix.Task
  alias Mix.Tasks.NervesDockerTs.Project

  @impl true
  def run(_argv) do
    NervesDockerTs.BuildRunner.clean(Project.package!())
  end
end
