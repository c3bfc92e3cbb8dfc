defmodule NervesDockerTs.MixProject do
  use Mix.Project

  # The Mix side of nerves-docker-ts: a Nerves build runner that delegates the
  # work to a Node sidecar over an Erlang port: priv/sidecar.mjs and its
  # chunks in priv/sidecar/, the bundle `npm run build` makes, committed and
  # shipped with the plugin (as Phoenix ships its built JS), so that Node is
  # all a user needs.
  # No hex dependencies: it carries its own msgpack codec.
  def project do
    [
      app: :nerves_docker_ts,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      start_permanent: Mix.env() == :prod,
      deps: [],
      # A Nerves package in Nerves' eyes, so that `nerves.precompile` compiles
      # this plugin before it builds the system that names it as its build
      # runner (otherwise a fresh _build fails: BuildRunner is not loaded yet).
      # Its own build runner: only `mix nerves.clean --all` calls it (see NervesDockerTs.OwnPackage).
      nerves_package: [type: :build_runner, build_runner: NervesDockerTs.OwnPackage],
      # Nerves' modules are called only when Nerves is loaded (see NervesDockerTs.Spec).
      xref: [exclude: [Nerves.Artifact, Nerves.Artifact.Cache, Nerves.Env, Nerves.Artifact.BuildRunner]],
      description: "Drop-in Docker build runner for Nerves over the Docker Engine API",
      package: package()
    ]
  end

  # What the Hex package holds: the sidecar bundle in priv/ included (its entry and its chunks).
  defp package do
    [
      files: ["lib", "priv/sidecar.mjs", "priv/sidecar", "mix.exs", ".formatter.exs"],
      licenses: ["Apache-2.0"],
      links: %{}
    ]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  def application do
    [extra_applications: [:logger, :mix, :crypto]]
  end
end
