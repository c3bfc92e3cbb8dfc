defmodule NervesDockerTs.OwnPackage do
  @moduledoc """
  The build runner Nerves uses for this plugin's own package.

  The plugin is a Nerves package (`type: :build_runner`) so that Nerves
  compiles it before the systems that use it. Nerves then gives every
  package a build runner, and `mix nerves.clean --all` calls its `clean/1`:
  with the default (`Nerves.Artifact.BuildRunners.Local`) that is
  `nil.clean/1`, an UndefinedFunctionError. This package has no artifact,
  so there is nothing to build or clean.
  """

  @doc "Nothing to clean: the plugin has no artifact."
  @spec clean(map()) :: :ok
  def clean(_pkg), do: :ok

  @doc false
  def build(pkg, _toolchain, _opts), do: no_artifact(pkg)

  @doc false
  def archive(pkg, _toolchain, _opts), do: no_artifact(pkg)

  @doc false
  def system_shell(pkg), do: no_artifact(pkg)

  defp no_artifact(pkg) do
    Mix.raise(
      "#{inspect(Map.get(pkg, :app, :nerves_docker_ts))} is a build runner and has no artifact. " <>
        "Set `build_runner: NervesDockerTs.BuildRunner` in your system's nerves_package config and build the system."
    )
  end
end
