defmodule Mix.Tasks.NervesDockerTs.Archive do
  @shortdoc "Creates the artifact archive from an existing build"
  @moduledoc """
  Runs `make system` in the existing build volume and copies the archive to
  the download dir, as `mix nerves.artifact --path` does through `archive/3`.

      mix nerves_docker_ts.archive
  """
  use Mix.Task
  alias Mix.Tasks.NervesDockerTs.Project

  @impl true
  def run(_argv), do: Project.run_job(:archive)
end
