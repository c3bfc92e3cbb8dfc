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

  @doc "Runs build/3 or archive/3 of the runner on the current project and prints the artifact's path."
  def run_job(fun) when fun in [:build, :archive] do
    start()
    pkg = package!()
    {:ok, path} = apply(NervesDockerTs.BuildRunner, fun, [pkg, nil, opts(pkg)])
    Mix.shell().info(path)
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
  def run(_argv), do: Project.run_job(:build)
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
  def run(_argv), do: Project.run_job(:archive)
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

defmodule Mix.Tasks.NervesDockerTs.Doctor do
  @shortdoc "Checks Node, the sidecar, the engine, its version, disk, image, ~/.ssh"
  @moduledoc """
  Checks what a build needs and prints, for each failed check, the command
  that fixes it: Node and the sidecar, the engine (and how it was found), its
  version against the requirement, free space in its data root, the build
  image (when run in a project with nerves_package), ~/.ssh, UID/GID.

      mix nerves_docker_ts.doctor
  """
  use Mix.Task

  @impl true
  def run(_argv) do
    case NervesDockerTs.Sidecar.start_link() do
      {:ok, sc} ->
        hello = NervesDockerTs.Sidecar.hello(sc)
        Mix.shell().info("ok   sidecar: #{hello["version"]} (protocol #{hello["protocol"]}, node #{hello["node"]})")
        image = image_of_project()

        case NervesDockerTs.Sidecar.request(sc, "doctor", %{"image" => image, "home" => System.user_home()}) do
          {:ok, checks} ->
            Enum.each(checks, &print/1)
            NervesDockerTs.Sidecar.stop(sc)
            if Enum.all?(checks, & &1["ok"]), do: :ok, else: Mix.raise("Some checks failed (see above).")

          {:error, err} ->
            raise err
        end

      {:error, err} ->
        Mix.shell().error("FAIL sidecar: #{Exception.message(err)}")
        Mix.raise("The sidecar cannot start.")
    end
  end

  defp print(%{"ok" => ok, "name" => name, "detail" => detail} = check) do
    Mix.shell().info("#{if ok, do: "ok  ", else: "FAIL"} #{name}: #{detail}")
    if check["fix"], do: Mix.shell().info("     fix: #{check["fix"]}")
  end

  defp image_of_project do
    with config when is_list(config) <- Mix.Project.config()[:nerves_package],
         {_, tag} <- get_in(config, [:build_runner_config, :docker]) do
      tag
    else
      _ -> nil
    end
  end
end
