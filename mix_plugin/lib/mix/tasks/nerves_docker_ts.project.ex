defmodule Mix.Tasks.NervesDockerTs.Project do
  @moduledoc false
  # The current Mix project as a package map, for the nerves_docker_ts.* tasks
  # (which work without Nerves: they read nerves_package from mix.exs).

  def package! do
    config = Mix.Project.config()

    nerves_package =
      config[:nerves_package] ||
        Mix.raise(
          "#{config[:app] || "This project"} has no nerves_package config in mix.exs. " <>
            "Run this task in a Nerves system project (its mix.exs has `nerves_package: [type: :system, ...]`)."
        )

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

  @doc "Starts a sidecar, or raises with what to do when it cannot start."
  def start_sidecar! do
    case NervesDockerTs.Sidecar.start_link() do
      {:ok, sc} -> sc
      {:error, err} -> Mix.raise("The nerves-docker-ts sidecar cannot start: " <> Exception.message(err))
    end
  end
end
