defmodule Mix.Tasks.NervesDockerTs.Project do
  @moduledoc false
  # The current Mix project as a package map, for the tasks below (which work
  # without Nerves: they read nerves_package from mix.exs).

  def package! do
    config = Mix.Project.config()
    nerves_package = config[:nerves_package] || Mix.raise("#{config[:app]} has no nerves_package config in mix.exs")

    %{
      app: config[:app],
      path: File.cwd!(),
      version: config[:version],
      type: nerves_package[:type],
      config: nerves_package
    }
  end

  def opts(pkg), do: pkg.config[:build_runner_opts] || []

  def start do
    # The platform's version is read from its loaded application.
    Mix.Task.run("deps.loadpaths", ["--no-deps-check"])
  end
end

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
  def run(_argv) do
    Project.start()
    pkg = Project.package!()
    {:ok, path} = NervesDockerTs.BuildRunner.build(pkg, nil, Project.opts(pkg))
    Mix.shell().info(path)
  end
end

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
  def run(_argv) do
    Project.start()
    pkg = Project.package!()
    {:ok, path} = NervesDockerTs.BuildRunner.archive(pkg, nil, Project.opts(pkg))
    Mix.shell().info(path)
  end
end

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

defmodule Mix.Tasks.NervesDockerTs.Ping do
  @shortdoc "Starts the sidecar and shows that the plugin and sidecar talk"
  @moduledoc """
  Starts the Node sidecar, prints its hello and the engine it finds.

      mix nerves_docker_ts.ping
  """
  use Mix.Task

  @impl true
  def run(_argv) do
    {:ok, sc} = NervesDockerTs.Sidecar.start_link()
    hello = NervesDockerTs.Sidecar.hello(sc)
    Mix.shell().info("sidecar #{hello["version"]} (protocol #{hello["protocol"]}, node #{hello["node"]}, pid #{hello["pid"]})")

    case NervesDockerTs.Sidecar.request(sc, "engine_info", nil) do
      {:ok, info} -> Mix.shell().info("engine: #{info["engine"]} #{info["version"]} (API #{info["apiVersion"]}) at #{info["where"]}")
      {:error, err} -> Mix.shell().error(Exception.message(err))
    end

    NervesDockerTs.Sidecar.stop(sc)
  end
end
