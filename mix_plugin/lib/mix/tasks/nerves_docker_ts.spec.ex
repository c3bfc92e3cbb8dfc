defmodule Mix.Tasks.NervesDockerTs.Spec do
  @shortdoc "Prints the project's job spec as JSON (for nerves-docker build --spec)"
  @moduledoc """
  Prints the job spec of the current project's `nerves_package` as JSON, the
  input of the CLI (`nerves-docker build --spec FILE`).

      mix nerves_docker_ts.spec > spec.json
  """
  use Mix.Task
  alias Mix.Tasks.NervesDockerTs.Project

  @impl true
  def run(_argv) do
    Project.start()
    pkg = Project.package!()
    IO.puts(NervesDockerTs.JSON.encode!(NervesDockerTs.Spec.from_package(pkg, Project.opts(pkg))))
  end
end
